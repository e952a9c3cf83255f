package strongroom.witness;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static strongroom.witness.Strongroom.*;

import com.azure.security.keyvault.keys.KeyClient;
import com.azure.security.keyvault.keys.KeyClientBuilder;
import com.azure.security.keyvault.keys.cryptography.CryptographyClient;
import com.azure.security.keyvault.keys.cryptography.CryptographyClientBuilder;
import com.azure.security.keyvault.keys.cryptography.models.DecryptParameters;
import com.azure.security.keyvault.keys.cryptography.models.EncryptParameters;
import com.azure.security.keyvault.keys.cryptography.models.EncryptResult;
import com.azure.security.keyvault.keys.cryptography.models.EncryptionAlgorithm;
import com.azure.security.keyvault.keys.cryptography.models.KeyWrapAlgorithm;
import com.azure.security.keyvault.keys.cryptography.models.SignatureAlgorithm;
import com.azure.security.keyvault.keys.models.CreateEcKeyOptions;
import com.azure.security.keyvault.keys.models.CreateOctKeyOptions;
import com.azure.security.keyvault.keys.models.CreateRsaKeyOptions;
import com.azure.security.keyvault.keys.models.JsonWebKey;
import com.azure.security.keyvault.keys.models.KeyCurveName;
import com.azure.security.keyvault.keys.models.KeyOperation;
import com.azure.security.keyvault.keys.models.KeyRotationLifetimeAction;
import com.azure.security.keyvault.keys.models.KeyRotationPolicy;
import com.azure.security.keyvault.keys.models.KeyRotationPolicyAction;
import com.azure.security.keyvault.keys.models.KeyVaultKey;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.MessageDigest;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.MGF1ParameterSpec;
import java.util.List;
import javax.crypto.Cipher;
import javax.crypto.spec.OAEPParameterSpec;
import javax.crypto.spec.PSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** KeyClient and every CryptographyClient operation, cross-checked with the JDK's own crypto. */
@ExtendWith(Strongroom.class)
class KeysTest {
    private static final byte[] PLAINTEXT = "the witness's plaintext".getBytes(java.nio.charset.StandardCharsets.UTF_8);
    private static final SecureRandom RANDOM = new SecureRandom();

    private static KeyClient keys() {
        return new KeyClientBuilder().vaultUrl(vaultUrl("witness")).credential(admin()).buildClient();
    }

    /** The witness Managed HSM, which holds the AES keys a vault refuses. */
    private static KeyClient hsmKeys() {
        return new KeyClientBuilder().vaultUrl(managedHsmUrl("witness-hsm")).credential(admin()).buildClient();
    }

    private static CryptographyClient crypto(KeyVaultKey key) {
        return new CryptographyClientBuilder().keyIdentifier(key.getId()).credential(admin()).buildClient();
    }

    private static byte[] sha256(byte[] data) throws Exception {
        return MessageDigest.getInstance("SHA-256").digest(data);
    }

    private static byte[] jdkEncrypt(String transformation, OAEPParameterSpec oaep, PublicKey key, byte[] data) throws Exception {
        Cipher cipher = Cipher.getInstance(transformation);
        if (oaep == null) {
            cipher.init(Cipher.ENCRYPT_MODE, key);
        } else {
            cipher.init(Cipher.ENCRYPT_MODE, key, oaep);
        }
        return cipher.doFinal(data);
    }

    @Test
    void rsaOperationsAgreeWithTheJdk() throws Exception {
        KeyVaultKey key = keys().createRsaKey(new CreateRsaKeyOptions(uniqueName("java-rsa")).setKeySize(2048));
        PublicKey publicKey = key.getKey().toRsa().getPublic();
        CryptographyClient crypto = crypto(key);

        OAEPParameterSpec sha1 = new OAEPParameterSpec("SHA-1", "MGF1", MGF1ParameterSpec.SHA1, PSource.PSpecified.DEFAULT);
        OAEPParameterSpec sha256 = new OAEPParameterSpec("SHA-256", "MGF1", MGF1ParameterSpec.SHA256, PSource.PSpecified.DEFAULT);
        assertArrayEquals(PLAINTEXT, crypto.decrypt(EncryptionAlgorithm.RSA_OAEP,
            jdkEncrypt("RSA/ECB/OAEPPadding", sha1, publicKey, PLAINTEXT)).getPlainText());
        assertArrayEquals(PLAINTEXT, crypto.decrypt(EncryptionAlgorithm.RSA_OAEP_256,
            jdkEncrypt("RSA/ECB/OAEPPadding", sha256, publicKey, PLAINTEXT)).getPlainText());
        assertArrayEquals(PLAINTEXT, crypto.decrypt(EncryptionAlgorithm.RSA1_5,
            jdkEncrypt("RSA/ECB/PKCS1Padding", null, publicKey, PLAINTEXT)).getPlainText());
        EncryptResult encrypted = crypto.encrypt(EncryptionAlgorithm.RSA_OAEP_256, PLAINTEXT);
        assertArrayEquals(PLAINTEXT, crypto.decrypt(EncryptionAlgorithm.RSA_OAEP_256, encrypted.getCipherText()).getPlainText());

        byte[] digest = sha256(PLAINTEXT);
        byte[] rs256 = crypto.sign(SignatureAlgorithm.RS256, digest).getSignature();
        Signature jdk = Signature.getInstance("SHA256withRSA");
        jdk.initVerify(publicKey);
        jdk.update(PLAINTEXT);
        assertTrue(jdk.verify(rs256), "the JDK verifies RS256");
        byte[] ps256 = crypto.sign(SignatureAlgorithm.PS256, digest).getSignature();
        Signature pss = Signature.getInstance("RSASSA-PSS");
        pss.setParameter(new java.security.spec.PSSParameterSpec("SHA-256", "MGF1", MGF1ParameterSpec.SHA256, 32, 1));
        pss.initVerify(publicKey);
        pss.update(PLAINTEXT);
        assertTrue(pss.verify(ps256), "the JDK verifies PS256");
        assertTrue(crypto.verify(SignatureAlgorithm.RS256, digest, rs256).isValid());
        assertTrue(crypto.verifyData(SignatureAlgorithm.RS256, PLAINTEXT, crypto.signData(SignatureAlgorithm.RS256, PLAINTEXT).getSignature()).isValid());

        byte[] contentKey = new byte[32];
        RANDOM.nextBytes(contentKey);
        byte[] wrapped = jdkEncrypt("RSA/ECB/OAEPPadding", sha256, publicKey, contentKey);
        assertArrayEquals(contentKey, crypto.unwrapKey(KeyWrapAlgorithm.RSA_OAEP_256, wrapped).getKey());
        byte[] serverWrapped = crypto.wrapKey(KeyWrapAlgorithm.RSA_OAEP, contentKey).getEncryptedKey();
        assertArrayEquals(contentKey, crypto.unwrapKey(KeyWrapAlgorithm.RSA_OAEP, serverWrapped).getKey());
    }

    @Test
    void ecSignaturesVerifyWithTheJdk() throws Exception {
        record Curve(KeyCurveName name, SignatureAlgorithm algorithm, String jdk) {
        }
        for (Curve curve : List.of(
                new Curve(KeyCurveName.P_256, SignatureAlgorithm.ES256, "SHA256withECDSAinP1363Format"),
                new Curve(KeyCurveName.P_384, SignatureAlgorithm.ES384, "SHA384withECDSAinP1363Format"),
                new Curve(KeyCurveName.P_521, SignatureAlgorithm.ES512, "SHA512withECDSAinP1363Format"))) {
            KeyVaultKey key = keys().createEcKey(new CreateEcKeyOptions(uniqueName("java-ec")).setCurveName(curve.name()));
            byte[] signature = crypto(key).signData(curve.algorithm(), PLAINTEXT).getSignature();
            Signature jdk = Signature.getInstance(curve.jdk());
            jdk.initVerify(key.getKey().toEc().getPublic());
            jdk.update(PLAINTEXT);
            assertTrue(jdk.verify(signature), curve.algorithm() + ": the JDK verifies the server's signature");
        }
    }

    @Test
    void aesOperationsRoundTripAndTheKeyStaysInside() {
        String name = uniqueName("java-aes");
        Throwable refusal = assertThrows(RuntimeException.class,
            () -> keys().createOctKey(new CreateOctKeyOptions(name).setKeySize(256)));
        assertEquals(400, statusOf(refusal), "a vault refuses an AES key as Key Vault does");
        assertEquals("KeyTypeNotSupported", innerCodeOf(refusal));
        KeyVaultKey key = hsmKeys().createOctKey(new CreateOctKeyOptions(name).setKeySize(256));
        assertEquals("oct-HSM", key.getKeyType().toString(), "every key of an HSM is a hardware key");
        assertNull(key.getKey().getK());
        CryptographyClient crypto = crypto(key);
        byte[] aad = "aad".getBytes(java.nio.charset.StandardCharsets.UTF_8);
        EncryptResult encrypted = crypto.encrypt(EncryptParameters.createA256GcmParameters(PLAINTEXT, aad), null);
        assertArrayEquals(PLAINTEXT, crypto.decrypt(DecryptParameters.createA256GcmParameters(
            encrypted.getCipherText(), encrypted.getIv(), encrypted.getAuthenticationTag(), aad), null).getPlainText());
        byte[] contentKey = new byte[32];
        RANDOM.nextBytes(contentKey);
        byte[] wrapped = crypto.wrapKey(KeyWrapAlgorithm.A256KW, contentKey).getEncryptedKey();
        assertArrayEquals(contentKey, crypto.unwrapKey(KeyWrapAlgorithm.A256KW, wrapped).getKey());
    }

    @Test
    void anImportedKeyDecryptsWhatTheJdkEncrypts() throws Exception {
        KeyPairGenerator generator = KeyPairGenerator.getInstance("RSA");
        generator.initialize(2048);
        KeyPair pair = generator.generateKeyPair();
        String name = uniqueName("java-imported");
        KeyVaultKey imported = keys().importKey(name, JsonWebKey.fromRsa(pair,
            List.of(KeyOperation.DECRYPT, KeyOperation.ENCRYPT)));
        assertFalse(imported.getKey().hasPrivateKey(), "the private half is never answered");
        OAEPParameterSpec sha256 = new OAEPParameterSpec("SHA-256", "MGF1", MGF1ParameterSpec.SHA256, PSource.PSpecified.DEFAULT);
        assertArrayEquals(PLAINTEXT, crypto(imported).decrypt(EncryptionAlgorithm.RSA_OAEP_256,
            jdkEncrypt("RSA/ECB/OAEPPadding", sha256, pair.getPublic(), PLAINTEXT)).getPlainText());
        Throwable refusal = assertThrows(RuntimeException.class,
            () -> crypto(imported).sign(SignatureAlgorithm.RS256, sha256(PLAINTEXT)));
        int status = statusOf(refusal);
        assertTrue(status >= 400 && status < 500, "a sign outside key_ops is refused: " + status);
    }

    @Test
    void rotationPolicyRotationAndTheKeyLifecycle() {
        KeyClient keys = keys();
        String name = uniqueName("java-key");
        KeyVaultKey first = keys.createRsaKey(new CreateRsaKeyOptions(name));
        KeyRotationPolicy policy = keys.updateKeyRotationPolicy(name, new KeyRotationPolicy().setExpiresIn("P90D")
            .setLifetimeActions(List.of(
                new KeyRotationLifetimeAction(KeyRotationPolicyAction.ROTATE).setTimeAfterCreate("P30D"),
                new KeyRotationLifetimeAction(KeyRotationPolicyAction.NOTIFY).setTimeBeforeExpiry("P30D"))));
        assertEquals("P90D", policy.getExpiresIn());
        assertEquals(2, keys.getKeyRotationPolicy(name).getLifetimeActions().size());
        KeyVaultKey rotated = keys.rotateKey(name);
        assertNotEquals(first.getProperties().getVersion(), rotated.getProperties().getVersion());
        assertNotNull(rotated.getProperties().getExpiresOn(), "the policy's expiry is applied");
        assertEquals(2, keys.listPropertiesOfKeyVersions(name).stream().count());
        assertTrue(keys.listPropertiesOfKeys().stream().anyMatch(p -> p.getName().equals(name)));
        keys.updateKeyProperties(rotated.getProperties().setTags(java.util.Map.of("team", "java")));
        assertEquals("java", keys.getKey(name).getProperties().getTags().get("team"));

        byte[] backup = keys.backupKey(name);
        keys.beginDeleteKey(name).waitForCompletion();
        assertTrue(keys.listDeletedKeys().stream().anyMatch(k -> k.getName().equals(name)));
        assertNotNull(keys.getDeletedKey(name).getRecoveryId());
        keys.beginRecoverDeletedKey(name).waitForCompletion();
        assertEquals(rotated.getId(), keys.getKey(name).getId());
        keys.beginDeleteKey(name).waitForCompletion();
        keys.purgeDeletedKey(name);
        assertEquals(rotated.getKey().getN().length, keys.restoreKeyBackup(backup).getKey().getN().length);
        assertArrayEquals(rotated.getKey().getN(), keys.getKey(name).getKey().getN());
    }

    @Test
    void randomBytesAndARefusedRelease() {
        assertEquals(32, keys().getRandomBytes(32).length);
        KeyVaultKey kept = keys().createRsaKey(new CreateRsaKeyOptions(uniqueName("java-kept")));
        Throwable refusal = assertThrows(RuntimeException.class, () -> keys().releaseKey(kept.getName(), "not.an.attestation"));
        int status = statusOf(refusal);
        assertTrue(status >= 400 && status < 500, "release of a key that is not exportable is refused: " + status);
    }
}
