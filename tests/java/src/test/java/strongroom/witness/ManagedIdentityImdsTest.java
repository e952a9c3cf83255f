package strongroom.witness;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static strongroom.witness.Strongroom.*;

import com.azure.identity.ManagedIdentityCredentialBuilder;
import com.azure.security.keyvault.secrets.SecretClientBuilder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The IMDS source of ManagedIdentityCredential. Surefire runs this class in a JVM of its own whose
 * AZURE_POD_IDENTITY_AUTHORITY_HOST is the server's IMDS listener; the workload is this process, known to the
 * installation by its address.
 */
@ExtendWith(Strongroom.class)
class ManagedIdentityImdsTest {
    @Test
    void systemAssignedIdentityThroughImds() {
        var client = new SecretClientBuilder().vaultUrl(vaultUrl("witness"))
            .credential(new ManagedIdentityCredentialBuilder().build()).buildClient();
        assertEquals(SEEDED_VALUE, client.getSecret("seeded").getValue());
    }
}
