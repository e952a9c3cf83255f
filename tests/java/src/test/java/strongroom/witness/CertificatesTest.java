package strongroom.witness;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static strongroom.witness.Strongroom.*;

import com.azure.core.util.polling.LongRunningOperationStatus;
import com.azure.core.util.polling.SyncPoller;
import com.azure.security.keyvault.certificates.CertificateClient;
import com.azure.security.keyvault.certificates.CertificateClientBuilder;
import com.azure.security.keyvault.certificates.models.CertificateContact;
import com.azure.security.keyvault.certificates.models.CertificateIssuer;
import com.azure.security.keyvault.certificates.models.CertificateOperation;
import com.azure.security.keyvault.certificates.models.CertificatePolicy;
import com.azure.security.keyvault.certificates.models.ImportCertificateOptions;
import com.azure.security.keyvault.certificates.models.KeyVaultCertificate;
import com.azure.security.keyvault.certificates.models.KeyVaultCertificateWithPolicy;
import com.azure.security.keyvault.certificates.models.MergeCertificateOptions;
import com.azure.security.keyvault.secrets.SecretClientBuilder;
import java.io.ByteArrayInputStream;
import java.math.BigInteger;
import java.security.KeyPair;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.Date;
import java.util.List;
import java.util.Map;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** CertificateClient: the default policy, PKCS#12 import, a CSR merged after another CA signed it, and the rest. */
@ExtendWith(Strongroom.class)
class CertificatesTest {
    private static CertificateClient client() {
        return new CertificateClientBuilder().vaultUrl(vaultUrl("witness")).credential(admin()).buildClient();
    }

    private static X509Certificate x509(byte[] der) throws Exception {
        return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(new ByteArrayInputStream(der));
    }

    /** CertificatePolicy.getDefault(): self-signed; its secret is a PKCS#12 whose key matches the certificate. */
    @Test
    void theDefaultPolicyMakesACertificateWithItsKeyAndSecret() throws Exception {
        CertificateClient client = client();
        String name = uniqueName("java-cert");
        SyncPoller<CertificateOperation, KeyVaultCertificateWithPolicy> poller = client.beginCreateCertificate(
            name, CertificatePolicy.getDefault(), true, Map.of("team", "java"));
        poller.setPollInterval(Duration.ofMillis(200));
        assertEquals(LongRunningOperationStatus.SUCCESSFULLY_COMPLETED, poller.waitForCompletion(Duration.ofSeconds(30)).getStatus());
        KeyVaultCertificateWithPolicy certificate = poller.getFinalResult();
        X509Certificate x509 = x509(certificate.getCer());

        String pfx = new SecretClientBuilder().vaultUrl(vaultUrl("witness")).credential(admin()).buildClient()
            .getSecret(name).getValue();
        KeyStore store = KeyStore.getInstance("PKCS12");
        store.load(new ByteArrayInputStream(Base64.getDecoder().decode(pfx)), new char[0]);
        String alias = store.aliases().nextElement();
        assertEquals(x509, store.getCertificate(alias));
        assertNotNull(store.getKey(alias, new char[0]), "the PKCS#12 carries the key");

        CertificatePolicy policy = client.getCertificatePolicy(name);
        assertEquals("CN=DefaultPolicy", policy.getSubject());
        client.updateCertificatePolicy(name, policy.setValidityInMonths(6));
        KeyVaultCertificate updated = client.updateCertificateProperties(certificate.getProperties().setTags(Map.of("team", "ops")));
        assertEquals("ops", updated.getProperties().getTags().get("team"));
        assertTrue(client.listPropertiesOfCertificates().stream().anyMatch(p -> p.getName().equals(name)));
        assertEquals(1, client.listPropertiesOfCertificateVersions(name).stream().count());
        assertArrayEquals(certificate.getCer(), client.getCertificateVersion(name, certificate.getProperties().getVersion()).getCer());
    }

    @Test
    void aPkcs12MadeByTheJdkImports() throws Exception {
        KeyPair keys = rsaKeyPair();
        X509Certificate certificate = selfSigned(keys, "imported.example", 90);
        byte[] pfx = pkcs12(keys.getPrivate(), certificate, "pfx-password");
        KeyVaultCertificateWithPolicy imported = client().importCertificate(
            new ImportCertificateOptions(uniqueName("java-imported"), pfx).setPassword("pfx-password"));
        assertArrayEquals(certificate.getEncoded(), imported.getCer());
        Throwable refusal = assertThrows(RuntimeException.class, () -> client().importCertificate(
            new ImportCertificateOptions(uniqueName("java-badpassword"), pfx).setPassword("wrong")));
        assertEquals(400, statusOf(refusal));
    }

    /** Issuer Unknown: the vault keeps the key and gives a CSR; a CA of the application's signs it; merge. */
    @Test
    void aCsrSignedElsewhereIsMerged() throws Exception {
        CertificateClient client = client();
        String name = uniqueName("java-merged");
        SyncPoller<CertificateOperation, KeyVaultCertificateWithPolicy> poller = client.beginCreateCertificate(
            name, new CertificatePolicy("Unknown", "CN=merged.example"));
        CertificateOperation pending = poller.poll().getValue();
        PKCS10CertificationRequest request = new JcaPKCS10CertificationRequest(pending.getCsr());

        KeyPair caKeys = rsaKeyPair();
        X500Name caName = new X500Name("CN=Witness CA");
        Instant now = Instant.now();
        JcaX509v3CertificateBuilder caBuilder = new JcaX509v3CertificateBuilder(caName, BigInteger.ONE,
            Date.from(now.minus(Duration.ofHours(1))), Date.from(now.plus(Duration.ofDays(365))), caName, caKeys.getPublic());
        caBuilder.addExtension(Extension.basicConstraints, true, new BasicConstraints(true));
        X509Certificate ca = new JcaX509CertificateConverter()
            .getCertificate(caBuilder.build(new JcaContentSignerBuilder("SHA256withRSA").build(caKeys.getPrivate())));
        JcaX509v3CertificateBuilder leafBuilder = new JcaX509v3CertificateBuilder(caName, BigInteger.TWO,
            Date.from(now.minus(Duration.ofHours(1))), Date.from(now.plus(Duration.ofDays(90))), request.getSubject(),
            new JcaPKCS10CertificationRequest(request).getPublicKey());
        X509Certificate leaf = new JcaX509CertificateConverter()
            .getCertificate(leafBuilder.build(new JcaContentSignerBuilder("SHA256withRSA").build(caKeys.getPrivate())));

        KeyVaultCertificateWithPolicy merged = client.mergeCertificate(
            new MergeCertificateOptions(name, List.of(leaf.getEncoded(), ca.getEncoded())));
        x509(merged.getCer()).verify(ca.getPublicKey());
        assertEquals("completed", client.getCertificateOperation(name).poll().getValue().getStatus());
    }

    @Test
    void aPendingRequestIsCancelledAndDeleted() {
        CertificateClient client = client();
        String name = uniqueName("java-cancelled");
        client.beginCreateCertificate(name, new CertificatePolicy("Unknown", "CN=cancelled.example")).poll();
        assertTrue(client.cancelCertificateOperation(name).getCancellationRequested());
        client.deleteCertificateOperation(name);
        assertEquals(404, statusOf(assertThrows(RuntimeException.class, () -> client.getCertificateOperation(name).poll())));
    }

    @Test
    void contactsAndIssuers() {
        CertificateClient client = client();
        // setContacts answers a lazy PagedIterable: the request goes out when it is read.
        assertEquals(1, client.setContacts(List.of(new CertificateContact().setEmail("ops@witness.example").setName("Ops")))
            .stream().count());
        assertEquals("ops@witness.example", client.listContacts().stream().findFirst().orElseThrow().getEmail());
        client.deleteContacts().stream().count();

        String issuer = uniqueName("java-issuer");
        client.createIssuer(new CertificateIssuer(issuer, "Test").setAccountId("account").setPassword("issuer-password"));
        CertificateIssuer read = client.getIssuer(issuer);
        assertEquals("Test", read.getProvider());
        assertEquals(null, read.getPassword(), "the issuer's password is never answered");
        client.updateIssuer(read.setEnabled(true));
        assertTrue(client.listPropertiesOfIssuers().stream().anyMatch(p -> p.getName().equals(issuer)));
        client.deleteIssuer(issuer);
    }

    @Test
    void deleteRecoverPurgeBackupRestore() {
        CertificateClient client = client();
        String name = uniqueName("java-life");
        SyncPoller<CertificateOperation, KeyVaultCertificateWithPolicy> poller =
            client.beginCreateCertificate(name, CertificatePolicy.getDefault());
        poller.setPollInterval(Duration.ofMillis(200));
        poller.waitForCompletion(Duration.ofSeconds(30));
        KeyVaultCertificateWithPolicy original = poller.getFinalResult();
        byte[] backup = client.backupCertificate(name);
        client.beginDeleteCertificate(name).waitForCompletion();
        assertTrue(client.listDeletedCertificates().stream().anyMatch(c -> c.getName().equals(name)));
        assertNotNull(client.getDeletedCertificate(name).getRecoveryId());
        client.beginRecoverDeletedCertificate(name).waitForCompletion();
        assertArrayEquals(original.getCer(), client.getCertificate(name).getCer());
        client.beginDeleteCertificate(name).waitForCompletion();
        client.purgeDeletedCertificate(name);
        assertArrayEquals(original.getCer(), client.restoreCertificateBackup(backup).getCer());
    }
}
