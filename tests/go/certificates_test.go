package witness

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azcertificates"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

func certificatesClient(t *testing.T) *azcertificates.Client {
	t.Helper()
	client, err := azcertificates.NewClient(vaultURL("witness"), adminCredential(t), &azcertificates.ClientOptions{ClientOptions: clientOptions()})
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// selfSignedPolicy is the policy of the SDK samples: a self-signed RSA certificate kept as PKCS#12.
func selfSignedPolicy(subject string) *azcertificates.CertificatePolicy {
	return &azcertificates.CertificatePolicy{
		IssuerParameters: &azcertificates.IssuerParameters{Name: to.Ptr("Self")},
		X509CertificateProperties: &azcertificates.X509CertificateProperties{
			Subject:          to.Ptr(subject),
			ValidityInMonths: to.Ptr[int32](12),
			SubjectAlternativeNames: &azcertificates.SubjectAlternativeNames{
				DNSNames: to.SliceOfPtrs("witness.example"),
			},
		},
		KeyProperties:    &azcertificates.KeyProperties{KeyType: to.Ptr(azcertificates.KeyTypeRSA), KeySize: to.Ptr[int32](2048), Exportable: to.Ptr(true)},
		SecretProperties: &azcertificates.SecretProperties{ContentType: to.Ptr("application/x-pkcs12")},
	}
}

// waitForOperation polls the certificate operation until it completes, as the SDK samples do.
func waitForOperation(t *testing.T, client *azcertificates.Client, name string) azcertificates.CertificateOperation {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		operation, err := client.GetCertificateOperation(context.Background(), name, nil)
		if err != nil {
			t.Fatal(err)
		}
		if *operation.Status != "inProgress" || time.Now().After(deadline) {
			return operation.CertificateOperation
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// A self-signed certificate from a policy: its secret is a PKCS#12 whose key matches the certificate.
func TestASelfSignedCertificateFromAPolicy(t *testing.T) {
	ctx := context.Background()
	client := certificatesClient(t)
	name := uniqueName("go-cert")
	created, err := client.CreateCertificate(ctx, name, azcertificates.CreateCertificateParameters{
		CertificatePolicy: selfSignedPolicy("CN=witness.example"), Tags: map[string]*string{"team": to.Ptr("go")},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if created.Status == nil {
		t.Fatal("create answered no operation status")
	}
	if operation := waitForOperation(t, client, name); *operation.Status != "completed" {
		t.Fatalf("the operation ended %s", *operation.Status)
	}
	certificate, err := client.GetCertificate(ctx, name, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := x509.ParseCertificate(certificate.CER)
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Subject.CommonName != "witness.example" || len(parsed.DNSNames) != 1 || parsed.DNSNames[0] != "witness.example" {
		t.Fatalf("subject %v, names %v", parsed.Subject, parsed.DNSNames)
	}

	secrets, err := azsecrets.NewClient(vaultURL("witness"), adminCredential(t), &azsecrets.ClientOptions{ClientOptions: clientOptions()})
	if err != nil {
		t.Fatal(err)
	}
	secret, err := secrets.GetSecret(ctx, name, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	pfx, err := base64.StdEncoding.DecodeString(*secret.Value)
	if err != nil {
		t.Fatal(err)
	}
	key, leaf, err := pkcs12.Decode(pfx, "")
	if err != nil {
		t.Fatalf("the certificate's secret is not PKCS#12: %v", err)
	}
	if !bytes.Equal(leaf.Raw, certificate.CER) || !key.(*rsa.PrivateKey).PublicKey.Equal(parsed.PublicKey) {
		t.Fatal("the PKCS#12's certificate or key differs from the certificate")
	}

	policy, err := client.GetCertificatePolicy(ctx, name, nil)
	if err != nil || *policy.X509CertificateProperties.Subject != "CN=witness.example" {
		t.Fatalf("policy: %v", err)
	}
	policy.X509CertificateProperties.ValidityInMonths = to.Ptr[int32](6)
	if _, err := client.UpdateCertificatePolicy(ctx, name, policy.CertificatePolicy, nil); err != nil {
		t.Fatal(err)
	}
	updated, err := client.UpdateCertificate(ctx, name, "", azcertificates.UpdateCertificateParameters{Tags: map[string]*string{"team": to.Ptr("ops")}}, nil)
	if err != nil || *updated.Tags["team"] != "ops" {
		t.Fatalf("update: %v", err)
	}
	listed := false
	for pager := client.NewListCertificatePropertiesPager(nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, properties := range page.Value {
			listed = listed || properties.ID.Name() == name
		}
	}
	if !listed {
		t.Fatalf("%s is not listed", name)
	}
	for pager := client.NewListCertificatePropertiesVersionsPager(name, nil); pager.More(); {
		if page, err := pager.NextPage(ctx); err != nil || len(page.Value) != 1 {
			t.Fatalf("versions: %v", err)
		}
	}
}

// A PKCS#12 made by Go imports; the certificate keeps its key.
func TestImportingAPKCS12(t *testing.T) {
	ctx := context.Background()
	client := certificatesClient(t)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	template := x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "imported.example"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour),
		DNSNames: []string{"imported.example"},
	}
	der, err := x509.CreateCertificate(rand.Reader, &template, &template, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pfx, err := pkcs12.Modern.Encode(key, leaf, nil, "pfx-password")
	if err != nil {
		t.Fatal(err)
	}
	name := uniqueName("go-imported")
	imported, err := client.ImportCertificate(ctx, name, azcertificates.ImportCertificateParameters{
		Base64EncodedCertificate: to.Ptr(base64.StdEncoding.EncodeToString(pfx)),
		Password:                 to.Ptr("pfx-password"),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(imported.CER, der) {
		t.Fatal("the imported certificate differs")
	}
	_, err = client.ImportCertificate(ctx, uniqueName("go-badpassword"), azcertificates.ImportCertificateParameters{
		Base64EncodedCertificate: to.Ptr(base64.StdEncoding.EncodeToString(pfx)),
		Password:                 to.Ptr("wrong"),
	}, nil)
	if status, _ := statusOf(t, err); status != 400 {
		t.Fatalf("a PKCS#12 with the wrong password: expected 400, got %d", status)
	}
}

// Issuer Unknown: the vault makes the key and a CSR; a CA of the application's own signs it; merge completes it.
func TestMergingACertificateSignedElsewhere(t *testing.T) {
	ctx := context.Background()
	client := certificatesClient(t)
	name := uniqueName("go-merged")
	policy := selfSignedPolicy("CN=merged.example")
	policy.IssuerParameters.Name = to.Ptr("Unknown")
	if _, err := client.CreateCertificate(ctx, name, azcertificates.CreateCertificateParameters{CertificatePolicy: policy}, nil); err != nil {
		t.Fatal(err)
	}
	operation, err := client.GetCertificateOperation(ctx, name, nil)
	if err != nil || len(operation.CSR) == 0 {
		t.Fatalf("pending operation: %v", err)
	}
	request, err := x509.ParseCertificateRequest(operation.CSR)
	if err != nil || request.CheckSignature() != nil {
		t.Fatalf("the CSR does not parse or verify: %v", err)
	}

	caKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	caTemplate := x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Witness CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
	}
	caDER, err := x509.CreateCertificate(rand.Reader, &caTemplate, &caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leafTemplate := x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: request.Subject, DNSNames: request.DNSNames,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour),
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, &leafTemplate, ca, request.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	merged, err := client.MergeCertificate(ctx, name, azcertificates.MergeCertificateParameters{X509Certificates: [][]byte{leafDER, caDER}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(merged.CER)
	if err != nil || leaf.CheckSignatureFrom(ca) != nil {
		t.Fatalf("the merged certificate is not the CA's: %v", err)
	}
	if operation := waitForOperation(t, client, name); *operation.Status != "completed" {
		t.Fatalf("after the merge the operation is %s", *operation.Status)
	}
}

// A certificate whose operation is cancelled and deleted before anyone signs its CSR.
func TestACancelledCertificateRequest(t *testing.T) {
	ctx := context.Background()
	client := certificatesClient(t)
	name := uniqueName("go-cancelled")
	policy := selfSignedPolicy("CN=cancelled.example")
	policy.IssuerParameters.Name = to.Ptr("Unknown")
	if _, err := client.CreateCertificate(ctx, name, azcertificates.CreateCertificateParameters{CertificatePolicy: policy}, nil); err != nil {
		t.Fatal(err)
	}
	cancelled, err := client.UpdateCertificateOperation(ctx, name, azcertificates.UpdateCertificateOperationParameter{CancellationRequested: to.Ptr(true)}, nil)
	if err != nil || !*cancelled.CancellationRequested {
		t.Fatalf("cancel: %v", err)
	}
	if _, err := client.DeleteCertificateOperation(ctx, name, nil); err != nil {
		t.Fatal(err)
	}
	_, err = client.GetCertificateOperation(ctx, name, nil)
	if status, _ := statusOf(t, err); status != 404 {
		t.Fatalf("a deleted operation: expected 404, got %d", status)
	}
}

// Contacts and issuers of the vault.
func TestContactsAndIssuers(t *testing.T) {
	ctx := context.Background()
	client := certificatesClient(t)
	contacts := azcertificates.Contacts{ContactList: []*azcertificates.Contact{{Email: to.Ptr("ops@witness.example"), Name: to.Ptr("Ops")}}}
	if _, err := client.SetContacts(ctx, contacts, nil); err != nil {
		t.Fatal(err)
	}
	got, err := client.GetContacts(ctx, nil)
	if err != nil || *got.ContactList[0].Email != "ops@witness.example" {
		t.Fatalf("contacts: %v", err)
	}
	if _, err := client.DeleteContacts(ctx, nil); err != nil {
		t.Fatal(err)
	}

	issuer := uniqueName("go-issuer")
	if _, err := client.SetIssuer(ctx, issuer, azcertificates.SetIssuerParameters{
		Provider:    to.Ptr("Test"),
		Credentials: &azcertificates.IssuerCredentials{AccountID: to.Ptr("account"), Password: to.Ptr("issuer-password")},
	}, nil); err != nil {
		t.Fatal(err)
	}
	read, err := client.GetIssuer(ctx, issuer, nil)
	if err != nil || *read.Provider != "Test" {
		t.Fatalf("issuer: %v", err)
	}
	if read.Credentials != nil && read.Credentials.Password != nil {
		t.Fatal("the issuer's password was returned")
	}
	if _, err := client.UpdateIssuer(ctx, issuer, azcertificates.UpdateIssuerParameters{Provider: to.Ptr("Test")}, nil); err != nil {
		t.Fatal(err)
	}
	found := false
	for pager := client.NewListIssuerPropertiesPager(nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, properties := range page.Value {
			found = found || bytes.HasSuffix([]byte(*properties.ID), []byte("/"+issuer))
		}
	}
	if !found {
		t.Fatalf("issuer %s is not listed", issuer)
	}
	if _, err := client.DeleteIssuer(ctx, issuer, nil); err != nil {
		t.Fatal(err)
	}
}

// Delete, recover, purge, backup and restore of a certificate.
func TestCertificateLifecycle(t *testing.T) {
	ctx := context.Background()
	client := certificatesClient(t)
	name := uniqueName("go-life")
	if _, err := client.CreateCertificate(ctx, name, azcertificates.CreateCertificateParameters{CertificatePolicy: selfSignedPolicy("CN=life.example")}, nil); err != nil {
		t.Fatal(err)
	}
	waitForOperation(t, client, name)
	original, err := client.GetCertificate(ctx, name, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	backup, err := client.BackupCertificate(ctx, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.DeleteCertificate(ctx, name, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deleted certificate", func() error { _, err := client.GetDeletedCertificate(ctx, name, nil); return err })
	listed := false
	for pager := client.NewListDeletedCertificatePropertiesPager(nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, properties := range page.Value {
			listed = listed || properties.ID.Name() == name
		}
	}
	if !listed {
		t.Fatalf("%s is not among the deleted certificates", name)
	}
	if _, err := client.RecoverDeletedCertificate(ctx, name, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the recovered certificate", func() error { _, err := client.GetCertificate(ctx, name, "", nil); return err })
	if _, err := client.DeleteCertificate(ctx, name, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deleted certificate", func() error { _, err := client.GetDeletedCertificate(ctx, name, nil); return err })
	if _, err := client.PurgeDeletedCertificate(ctx, name, nil); err != nil {
		t.Fatal(err)
	}
	restored, err := client.RestoreCertificate(ctx, azcertificates.RestoreCertificateParameters{CertificateBackup: backup.Value}, nil)
	if err != nil || !bytes.Equal(restored.CER, original.CER) {
		t.Fatalf("restore: %v", err)
	}
}
