package witness

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"math/big"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
)

func keysClient(t *testing.T) *azkeys.Client {
	t.Helper()
	client, err := azkeys.NewClient(vaultURL("witness"), adminCredential(t), &azkeys.ClientOptions{ClientOptions: clientOptions()})
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// hsmKeysClient is the admin's client of the witness Managed HSM, which holds the AES keys a vault refuses.
func hsmKeysClient(t *testing.T) *azkeys.Client {
	t.Helper()
	client, err := azkeys.NewClient(managedHSMURL("witness-hsm"), adminCredential(t), &azkeys.ClientOptions{ClientOptions: clientOptions()})
	if err != nil {
		t.Fatal(err)
	}
	return client
}

func createKey(t *testing.T, client *azkeys.Client, name string, parameters azkeys.CreateKeyParameters) azkeys.KeyBundle {
	t.Helper()
	created, err := client.CreateKey(context.Background(), name, parameters, nil)
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return created.KeyBundle
}

func rsaPublicKey(key *azkeys.JSONWebKey) *rsa.PublicKey {
	return &rsa.PublicKey{N: new(big.Int).SetBytes(key.N), E: int(new(big.Int).SetBytes(key.E).Int64())}
}

// RSA: what the server encrypts, signs and wraps, Go's own crypto checks, and the reverse.
func TestRSAKeyOperationsAgreeWithGoCrypto(t *testing.T) {
	ctx := context.Background()
	client := keysClient(t)
	name := uniqueName("go-rsa")
	key := createKey(t, client, name, azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA), KeySize: to.Ptr[int32](2048)})
	public := rsaPublicKey(key.Key)
	version := key.Key.KID.Version()
	plaintext := []byte("the witness's plaintext")

	locally := map[azkeys.EncryptionAlgorithm]func() ([]byte, error){
		azkeys.EncryptionAlgorithmRSAOAEP: func() ([]byte, error) {
			return rsa.EncryptOAEP(sha1.New(), rand.Reader, public, plaintext, nil)
		},
		azkeys.EncryptionAlgorithmRSAOAEP256: func() ([]byte, error) {
			return rsa.EncryptOAEP(sha256.New(), rand.Reader, public, plaintext, nil)
		},
		azkeys.EncryptionAlgorithmRSA15: func() ([]byte, error) { return rsa.EncryptPKCS1v15(rand.Reader, public, plaintext) },
	}
	for algorithm, encrypt := range locally {
		ciphertext, err := encrypt()
		if err != nil {
			t.Fatal(err)
		}
		decrypted, err := client.Decrypt(ctx, name, version, azkeys.KeyOperationParameters{Algorithm: to.Ptr(algorithm), Value: ciphertext}, nil)
		if err != nil || !bytes.Equal(decrypted.Result, plaintext) {
			t.Fatalf("%s: the server did not decrypt what Go encrypted: %v", algorithm, err)
		}
		encrypted, err := client.Encrypt(ctx, name, version, azkeys.KeyOperationParameters{Algorithm: to.Ptr(algorithm), Value: plaintext}, nil)
		if err != nil {
			t.Fatal(err)
		}
		roundTrip, err := client.Decrypt(ctx, name, "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(algorithm), Value: encrypted.Result}, nil)
		if err != nil || !bytes.Equal(roundTrip.Result, plaintext) {
			t.Fatalf("%s: round trip: %v", algorithm, err)
		}
	}

	digest := sha256Of(plaintext)
	signed, err := client.Sign(ctx, name, version, azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmRS256), Value: digest}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := rsa.VerifyPKCS1v15(public, crypto.SHA256, digest, signed.Result); err != nil {
		t.Fatalf("RS256: Go does not verify the server's signature: %v", err)
	}
	pss, err := client.Sign(ctx, name, version, azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmPS256), Value: digest}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := rsa.VerifyPSS(public, crypto.SHA256, digest, pss.Result, nil); err != nil {
		t.Fatalf("PS256: Go does not verify the server's signature: %v", err)
	}
	verified, err := client.Verify(ctx, name, version, azkeys.VerifyParameters{
		Algorithm: to.Ptr(azkeys.SignatureAlgorithmRS256), Digest: digest, Signature: signed.Result,
	}, nil)
	if err != nil || !*verified.Value {
		t.Fatalf("the server does not verify its own signature: %v", err)
	}
	tampered := append([]byte{}, signed.Result...)
	tampered[0] ^= 1
	verified, err = client.Verify(ctx, name, version, azkeys.VerifyParameters{
		Algorithm: to.Ptr(azkeys.SignatureAlgorithmRS256), Digest: digest, Signature: tampered,
	}, nil)
	if err != nil || *verified.Value {
		t.Fatalf("a tampered signature verified: %v", err)
	}

	contentKey := make([]byte, 32)
	_, _ = rand.Read(contentKey)
	wrapped, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, public, contentKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	unwrapped, err := client.UnwrapKey(ctx, name, version, azkeys.KeyOperationParameters{
		Algorithm: to.Ptr(azkeys.EncryptionAlgorithmRSAOAEP256), Value: wrapped,
	}, nil)
	if err != nil || !bytes.Equal(unwrapped.Result, contentKey) {
		t.Fatalf("unwrap of a key Go wrapped: %v", err)
	}
	serverWrapped, err := client.WrapKey(ctx, name, version, azkeys.KeyOperationParameters{
		Algorithm: to.Ptr(azkeys.EncryptionAlgorithmRSAOAEP256), Value: contentKey,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	unwrapped, err = client.UnwrapKey(ctx, name, version, azkeys.KeyOperationParameters{
		Algorithm: to.Ptr(azkeys.EncryptionAlgorithmRSAOAEP256), Value: serverWrapped.Result,
	}, nil)
	if err != nil || !bytes.Equal(unwrapped.Result, contentKey) {
		t.Fatalf("wrap and unwrap: %v", err)
	}
}

// EC: signatures of the server, in JWS's r||s form, verify with Go's ecdsa on each curve.
func TestECSignaturesVerifyWithGoCrypto(t *testing.T) {
	ctx := context.Background()
	client := keysClient(t)
	cases := []struct {
		curve     azkeys.CurveName
		goCurve   elliptic.Curve
		algorithm azkeys.SignatureAlgorithm
		hash      crypto.Hash
	}{
		{azkeys.CurveNameP256, elliptic.P256(), azkeys.SignatureAlgorithmES256, crypto.SHA256},
		{azkeys.CurveNameP384, elliptic.P384(), azkeys.SignatureAlgorithmES384, crypto.SHA384},
		{azkeys.CurveNameP521, elliptic.P521(), azkeys.SignatureAlgorithmES512, crypto.SHA512},
	}
	for _, c := range cases {
		name := uniqueName("go-ec")
		key := createKey(t, client, name, azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeEC), Curve: to.Ptr(c.curve)})
		public := &ecdsa.PublicKey{Curve: c.goCurve, X: new(big.Int).SetBytes(key.Key.X), Y: new(big.Int).SetBytes(key.Key.Y)}
		hash := c.hash.New()
		hash.Write([]byte("signed by the vault"))
		digest := hash.Sum(nil)
		signed, err := client.Sign(ctx, name, "", azkeys.SignParameters{Algorithm: to.Ptr(c.algorithm), Value: digest}, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.algorithm, err)
		}
		half := len(signed.Result) / 2
		r, s := new(big.Int).SetBytes(signed.Result[:half]), new(big.Int).SetBytes(signed.Result[half:])
		if !ecdsa.Verify(public, digest, r, s) {
			t.Fatalf("%s: Go does not verify the server's signature", c.algorithm)
		}
	}
}

// oct (AES): a vault refuses it as Key Vault does; in a Managed HSM, GCM encryption and key wrap round trips,
// and the key itself never leaves the HSM.
func TestAESKeyOperations(t *testing.T) {
	ctx := context.Background()
	name := uniqueName("go-aes")
	_, err := keysClient(t).CreateKey(ctx, name, azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeOct), KeySize: to.Ptr[int32](256)}, nil)
	status, code := statusOf(t, err)
	if inner := innerCodeOf(t, err); status != 400 || code != "BadParameter" || inner != "KeyTypeNotSupported" {
		t.Fatalf("an AES key in a vault: expected 400 BadParameter/KeyTypeNotSupported, got %d %s/%s", status, code, inner)
	}
	client := hsmKeysClient(t)
	key := createKey(t, client, name, azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeOct), KeySize: to.Ptr[int32](256)})
	if len(key.Key.K) != 0 {
		t.Fatal("the AES key's material was returned")
	}
	if kty := *key.Key.Kty; kty != azkeys.KeyTypeOctHSM {
		t.Fatalf("every key of an HSM is a hardware key: got %s", kty)
	}
	plaintext := []byte("sealed with AES-256-GCM")
	encrypted, err := client.Encrypt(ctx, name, "", azkeys.KeyOperationParameters{
		Algorithm: to.Ptr(azkeys.EncryptionAlgorithmA256GCM), Value: plaintext, AdditionalAuthenticatedData: []byte("aad"),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	decrypted, err := client.Decrypt(ctx, name, "", azkeys.KeyOperationParameters{
		Algorithm: to.Ptr(azkeys.EncryptionAlgorithmA256GCM), Value: encrypted.Result, IV: encrypted.IV,
		AuthenticationTag: encrypted.AuthenticationTag, AdditionalAuthenticatedData: []byte("aad"),
	}, nil)
	if err != nil || !bytes.Equal(decrypted.Result, plaintext) {
		t.Fatalf("AES-GCM round trip: %v", err)
	}
	contentKey := make([]byte, 32)
	_, _ = rand.Read(contentKey)
	wrapped, err := client.WrapKey(ctx, name, "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmA256KW), Value: contentKey}, nil)
	if err != nil {
		t.Fatal(err)
	}
	unwrapped, err := client.UnwrapKey(ctx, name, "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmA256KW), Value: wrapped.Result}, nil)
	if err != nil || !bytes.Equal(unwrapped.Result, contentKey) {
		t.Fatalf("AES key wrap round trip: %v", err)
	}
}

// A key Go made, imported, decrypts what Go encrypts with its public half; the private half is never shown.
func TestAnImportedKeyWorksAndKeepsItsPrivateHalf(t *testing.T) {
	ctx := context.Background()
	client := keysClient(t)
	private, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	private.Precompute()
	name := uniqueName("go-imported")
	imported, err := client.ImportKey(ctx, name, azkeys.ImportKeyParameters{Key: &azkeys.JSONWebKey{
		Kty: to.Ptr(azkeys.KeyTypeRSA), N: private.N.Bytes(), E: big.NewInt(int64(private.E)).Bytes(),
		D: private.D.Bytes(), P: private.Primes[0].Bytes(), Q: private.Primes[1].Bytes(),
		DP: private.Precomputed.Dp.Bytes(), DQ: private.Precomputed.Dq.Bytes(), QI: private.Precomputed.Qinv.Bytes(),
		KeyOps: to.SliceOfPtrs(azkeys.KeyOperationDecrypt, azkeys.KeyOperationEncrypt),
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(imported.Key.D) != 0 || len(imported.Key.P) != 0 {
		t.Fatal("the private half was returned")
	}
	ciphertext, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, &private.PublicKey, []byte("imported"), nil)
	if err != nil {
		t.Fatal(err)
	}
	decrypted, err := client.Decrypt(ctx, name, "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmRSAOAEP256), Value: ciphertext}, nil)
	if err != nil || string(decrypted.Result) != "imported" {
		t.Fatalf("decrypt with the imported key: %v", err)
	}
	// Not in its key_ops: signing is refused, as Key Vault refuses it.
	_, err = client.Sign(ctx, name, "", azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmRS256), Value: sha256Of([]byte("x"))}, nil)
	status, code := statusOf(t, err)
	if inner := innerCodeOf(t, err); status != 403 || code != "Forbidden" || inner != "KeyOperationForbidden" {
		t.Fatalf("a sign outside key_ops: expected 403 Forbidden/KeyOperationForbidden, got %d %s/%s", status, code, inner)
	}
}

// The key's lifecycle: update, versions, rotation and its policy, backup, delete, recover, purge, restore.
func TestEveryKeyLifecycleMethod(t *testing.T) {
	ctx := context.Background()
	client := keysClient(t)
	name := uniqueName("go-key")
	first := createKey(t, client, name, azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA)})

	updated, err := client.UpdateKey(ctx, name, "", azkeys.UpdateKeyParameters{Tags: map[string]*string{"team": to.Ptr("go")}}, nil)
	if err != nil || *updated.Tags["team"] != "go" {
		t.Fatalf("update: %v", err)
	}
	got, err := client.GetKey(ctx, name, first.Key.KID.Version(), nil)
	if err != nil || !bytes.Equal(got.Key.N, first.Key.N) {
		t.Fatalf("get: %v", err)
	}

	policy, err := client.UpdateKeyRotationPolicy(ctx, name, azkeys.KeyRotationPolicy{
		Attributes: &azkeys.KeyRotationPolicyAttributes{ExpiryTime: to.Ptr("P90D")},
		LifetimeActions: []*azkeys.LifetimeAction{
			{Action: &azkeys.LifetimeActionType{Type: to.Ptr(azkeys.KeyRotationPolicyActionRotate)}, Trigger: &azkeys.LifetimeActionTrigger{TimeAfterCreate: to.Ptr("P30D")}},
			{Action: &azkeys.LifetimeActionType{Type: to.Ptr(azkeys.KeyRotationPolicyActionNotify)}, Trigger: &azkeys.LifetimeActionTrigger{TimeBeforeExpiry: to.Ptr("P30D")}},
		},
	}, nil)
	if err != nil || *policy.Attributes.ExpiryTime != "P90D" {
		t.Fatalf("rotation policy: %v", err)
	}
	read, err := client.GetKeyRotationPolicy(ctx, name, nil)
	if err != nil || len(read.LifetimeActions) != 2 {
		t.Fatalf("get rotation policy: %v", err)
	}
	rotated, err := client.RotateKey(ctx, name, nil)
	if err != nil || rotated.Key.KID.Version() == first.Key.KID.Version() {
		t.Fatalf("rotate: %v", err)
	}
	if rotated.Attributes.Expires == nil {
		t.Fatal("a version rotated under a policy with an expiry has none")
	}
	versions := 0
	for pager := client.NewListKeyPropertiesVersionsPager(name, nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		versions += len(page.Value)
	}
	if versions != 2 {
		t.Fatalf("expected 2 versions after rotation, listed %d", versions)
	}
	listed := false
	for pager := client.NewListKeyPropertiesPager(nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range page.Value {
			listed = listed || key.KID.Name() == name
		}
	}
	if !listed {
		t.Fatalf("%s is not listed", name)
	}

	backup, err := client.BackupKey(ctx, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.DeleteKey(ctx, name, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deleted key", func() error { _, err := client.GetDeletedKey(ctx, name, nil); return err })
	deletedListed := false
	for pager := client.NewListDeletedKeyPropertiesPager(nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range page.Value {
			deletedListed = deletedListed || key.KID.Name() == name
		}
	}
	if !deletedListed {
		t.Fatalf("%s is not among the deleted keys", name)
	}
	if _, err := client.RecoverDeletedKey(ctx, name, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the recovered key", func() error { _, err := client.GetKey(ctx, name, "", nil); return err })
	if _, err := client.DeleteKey(ctx, name, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deleted key", func() error { _, err := client.GetDeletedKey(ctx, name, nil); return err })
	if _, err := client.PurgeDeletedKey(ctx, name, nil); err != nil {
		t.Fatal(err)
	}
	restored, err := client.RestoreKey(ctx, azkeys.RestoreKeyParameters{KeyBackup: backup.Value}, nil)
	if err != nil || !bytes.Equal(restored.Key.N, rotated.Key.N) {
		t.Fatalf("restore: %v", err)
	}
}

// Random bytes and refusals: a key that is not exportable is not released, whatever the token says.
func TestRandomBytesAndARefusedRelease(t *testing.T) {
	ctx := context.Background()
	client := keysClient(t)
	random, err := client.GetRandomBytes(ctx, azkeys.GetRandomBytesParameters{Count: to.Ptr[int32](32)}, nil)
	if err != nil || len(random.Value) != 32 {
		t.Fatalf("random bytes: %v", err)
	}
	name := uniqueName("go-kept")
	createKey(t, client, name, azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA)})
	_, err = client.Release(ctx, name, "", azkeys.ReleaseParameters{TargetAttestationToken: to.Ptr("not.an.attestation")}, nil)
	if status, _ := statusOf(t, err); status < 400 || status >= 500 {
		t.Fatalf("release of a key that is not exportable: expected a refusal, got %d", status)
	}
}
