package strongroom.witness;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static strongroom.witness.Strongroom.*;

import com.azure.core.credential.TokenCredential;
import com.azure.identity.ClientCertificateCredentialBuilder;
import com.azure.identity.ManagedIdentityCredentialBuilder;
import com.azure.identity.UsernamePasswordCredentialBuilder;
import com.azure.identity.WorkloadIdentityCredentialBuilder;
import com.azure.security.keyvault.secrets.SecretClient;
import com.azure.security.keyvault.secrets.SecretClientBuilder;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Each credential of azure-identity obtains a token from Strongroom and reads a secret with it. */
@ExtendWith(Strongroom.class)
class IdentityTest {
    private static SecretClient client(String vault, TokenCredential credential) {
        return new SecretClientBuilder().vaultUrl(vaultUrl(vault)).credential(credential).buildClient();
    }

    private static void readsTheSeededSecret(TokenCredential credential) {
        assertEquals(SEEDED_VALUE, client("witness", credential).getSecret("seeded").getValue());
    }

    @Test
    void clientSecretCredential() {
        readsTheSeededSecret(admin());
    }

    @Test
    void clientCertificateCredentialFromPem() {
        readsTheSeededSecret(new ClientCertificateCredentialBuilder().tenantId(TENANT).clientId(CERT_APP)
            .pemCertificate(installation().certificatePem().toString())
            .authorityHost(authority()).disableInstanceDiscovery().build());
    }

    @Test
    void clientCertificateCredentialFromPfxSendingTheChain() {
        readsTheSeededSecret(new ClientCertificateCredentialBuilder().tenantId(TENANT).clientId(CERT_APP)
            .pfxCertificate(installation().certificatePfx().toString()).clientCertificatePassword("pfx-password")
            .sendCertificateChain(true).authorityHost(authority()).disableInstanceDiscovery().build());
    }

    @Test
    void workloadIdentityCredential() throws Exception {
        Path tokenFile = Files.createTempFile(installation().folder(), "federated", ".jwt");
        Files.writeString(tokenFile, federatedToken());
        readsTheSeededSecret(new WorkloadIdentityCredentialBuilder().tenantId(TENANT).clientId(WORKLOAD_APP)
            .tokenFilePath(tokenFile.toString()).authorityHost(authority()).disableInstanceDiscovery().build());
    }

    @Test
    void usernamePasswordCredential() {
        readsTheSeededSecret(new UsernamePasswordCredentialBuilder().tenantId(TENANT).clientId(CLI_APP)
            .username(USER).password(USER_PASSWORD).authorityHost(authority()).disableInstanceDiscovery().build());
    }

    /** App Service: IDENTITY_ENDPOINT and IDENTITY_HEADER, which surefire sets as App Service would. */
    @Test
    void managedIdentityThroughAppService() {
        readsTheSeededSecret(new ManagedIdentityCredentialBuilder().build());
    }

    /** The SDK retries a refused token request, so the app is one no other test signs in as (no lock-out). */
    @Test
    void aWrongClientSecretGetsNoToken() {
        SecretClient client = client("witness", secretCredential(NOBODY_APP, "not-the-secret-0123456789"));
        Throwable refusal = assertThrows(RuntimeException.class, () -> client.getSecret("seeded"));
        assertTrue(causes(refusal).contains("AADSTS7000215"), causes(refusal));
    }

    @Test
    void anApplicationWithoutARoleIsRefusedByRbac() {
        SecretClient client = client("witness", secretCredential(NOBODY_APP, secretOf("nobody")));
        Throwable refusal = assertThrows(RuntimeException.class, () -> client.getSecret("seeded"));
        assertEquals(403, statusOf(refusal));
        assertEquals("ForbiddenByRbac", innerCodeOf(refusal));
    }

    @Test
    void aReaderListsButCannotReadValues() {
        SecretClient client = client("witness", secretCredential(READER_APP, secretOf("reader")));
        client.listPropertiesOfSecrets().stream().findAny();
        assertEquals(403, statusOf(assertThrows(RuntimeException.class, () -> client.getSecret("seeded"))));
    }

    @Test
    void theFirewallRefusesALoopbackCaller() {
        Throwable refusal = assertThrows(RuntimeException.class, () -> client("walled", admin()).getSecret("anything"));
        assertEquals(403, statusOf(refusal));
        assertEquals("ForbiddenByFirewall", innerCodeOf(refusal));
    }
}
