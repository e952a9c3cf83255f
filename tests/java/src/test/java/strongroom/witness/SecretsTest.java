package strongroom.witness;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static strongroom.witness.Strongroom.*;

import com.azure.core.exception.ResourceNotFoundException;
import com.azure.security.keyvault.secrets.SecretClient;
import com.azure.security.keyvault.secrets.SecretClientBuilder;
import com.azure.security.keyvault.secrets.models.DeletedSecret;
import com.azure.security.keyvault.secrets.models.KeyVaultSecret;
import com.azure.security.keyvault.secrets.models.SecretProperties;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Every method of SecretClient, in the order an application's life calls them. */
@ExtendWith(Strongroom.class)
class SecretsTest {
    private static SecretClient client() {
        return new SecretClientBuilder().vaultUrl(vaultUrl("witness")).credential(admin()).buildClient();
    }

    @Test
    void everySecretClientMethod() {
        SecretClient client = client();
        String name = uniqueName("java-secret");

        KeyVaultSecret first = client.setSecret(new KeyVaultSecret(name, "v1")
            .setProperties(new SecretProperties().setContentType("text/plain").setTags(Map.of("team", "java"))));
        assertEquals("v1", first.getValue());
        assertEquals("text/plain", first.getProperties().getContentType());
        KeyVaultSecret second = client.setSecret(name, "v2");

        assertEquals("v2", client.getSecret(name).getValue());
        assertEquals("v1", client.getSecret(name, first.getProperties().getVersion()).getValue());

        SecretProperties disabled = client.updateSecretProperties(first.getProperties().setEnabled(false).setContentType("application/json"));
        assertFalse(disabled.isEnabled());
        assertEquals("application/json", disabled.getContentType());
        Throwable refusal = assertThrows(RuntimeException.class, () -> client.getSecret(name, first.getProperties().getVersion()));
        assertEquals(403, statusOf(refusal));

        assertTrue(client.listPropertiesOfSecrets().stream().anyMatch(p -> p.getName().equals(name)));
        assertEquals(2, client.listPropertiesOfSecretVersions(name).stream().count());

        byte[] backup = client.backupSecret(name);
        assertTrue(backup.length > 0);

        DeletedSecret deleted = client.beginDeleteSecret(name).waitForCompletion().getValue();
        assertNotNull(deleted.getRecoveryId());
        assertNotNull(client.getDeletedSecret(name).getDeletedOn());
        assertTrue(client.listDeletedSecrets().stream().anyMatch(s -> s.getName().equals(name)));
        client.beginRecoverDeletedSecret(name).waitForCompletion();
        assertEquals("v2", client.getSecret(name).getValue());

        client.beginDeleteSecret(name).waitForCompletion();
        client.purgeDeletedSecret(name);
        assertThrows(ResourceNotFoundException.class, () -> client.getDeletedSecret(name));

        KeyVaultSecret restored = client.getSecret(client.restoreSecretBackup(backup).getName(), second.getProperties().getVersion());
        assertEquals("v2", restored.getValue());
    }

    @Test
    void aSecretThatDoesNotExistIsNotFound() {
        assertThrows(ResourceNotFoundException.class, () -> client().getSecret("never-set"));
    }
}
