package strongroom.witness;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import com.azure.identity.DefaultAzureCredentialBuilder;
import com.azure.security.keyvault.secrets.SecretClient;
import com.azure.security.keyvault.secrets.SecretClientBuilder;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Code written for Azure, unchanged, against `strongroom dev --azure-hostnames`: `DefaultAzureCredential` and
 * the vault's Azure URL. Runs in a JVM of its own (surefire's `azure-names` execution) whose hosts file
 * (`hosts-azure`, through jdk.net.hosts.file) maps Azure's names to the dev server, as the lines `strongroom
 * trust install --azure-hostnames` writes do for a user. The dev server binds port 443, which needs root.
 *
 * <p>The variables of `dev.env` reach azure-identity as a Java developer may give them: as system properties,
 * which the SDK's configuration reads before the environment (a JVM cannot change its own environment). The
 * CA is trusted through the PKCS#12 trust store the installation writes (`STRONGROOM_TRUST_STORE`).
 */
class AzureNamesTest {
    /** The address `hosts-azure` maps Azure's names to. */
    private static final String ADDRESS = "127.0.0.7";

    private static Process server;
    private static Path folder;

    @BeforeAll
    static void start() throws Exception {
        Assumptions.assumeTrue("root".equals(System.getProperty("user.name")),
            "the Azure-hostname mode binds port 443, which needs root");
        folder = Files.createTempDirectory("strongroom-java-azure-");
        String binary = System.getenv().getOrDefault("STRONGROOM_BIN", "strongroom");
        server = new ProcessBuilder(binary, "dev", "--azure-hostnames", "--azure-listen", ADDRESS + ":443",
                "--listen", "127.0.0.1:0", "--data-dir", folder.toString())
            .redirectError(folder.resolve("server.log").toFile())
            .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
            .start();
        CompletableFuture<String> ready = new CompletableFuture<>();
        Thread reader = new Thread(() -> {
            try (BufferedReader lines = new BufferedReader(
                    new InputStreamReader(server.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = lines.readLine()) != null; ) {
                    if (line.startsWith("strongroom listening on https://")) {
                        ready.complete(line);
                    }
                }
            } catch (java.io.IOException e) {
                ready.completeExceptionally(e);
            }
            ready.completeExceptionally(new IllegalStateException("strongroom stopped"));
        }, "strongroom-dev-stdout");
        reader.setDaemon(true);
        reader.start();
        assertEquals("strongroom listening on https://" + ADDRESS + ":443", ready.get(60, TimeUnit.SECONDS));

        // `source dev.env`, as this JVM can take it.
        Map<String, String> env = devEnv(folder.resolve("dev.env"));
        assertFalse(env.containsKey("AZURE_AUTHORITY_HOST"), "code written for Azure is never told the authority");
        for (String name : new String[] {"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"}) {
            System.setProperty(name, env.get(name));
        }
        System.setProperty("javax.net.ssl.trustStore", env.get("STRONGROOM_TRUST_STORE"));
        System.setProperty("javax.net.ssl.trustStorePassword", env.get("STRONGROOM_TRUST_STORE_PASSWORD"));
        System.setProperty("javax.net.ssl.trustStoreType", "PKCS12");
    }

    @AfterAll
    static void stop() throws Exception {
        if (server != null && server.isAlive()) {
            server.destroy();
            if (!server.waitFor(10, TimeUnit.SECONDS)) {
                server.destroyForcibly().waitFor();
            }
        }
        if (folder != null) {
            try (var paths = Files.walk(folder)) {
                paths.sorted(java.util.Comparator.reverseOrder()).map(Path::toFile).forEach(java.io.File::delete);
            }
        }
    }

    private static Map<String, String> devEnv(Path file) throws java.io.IOException {
        Map<String, String> values = new HashMap<>();
        for (String line : Files.readAllLines(file)) {
            String[] parts = line.replaceFirst("^export ", "").split("=", 2);
            if (parts.length == 2) {
                values.put(parts[0], parts[1].replaceAll("^'|'$", ""));
            }
        }
        return values;
    }

    @Test
    void defaultAzureCredentialCodeWrittenForAzureRunsUnchanged() {
        // Exactly what an application written for Azure does.
        SecretClient client = new SecretClientBuilder()
            .vaultUrl("https://dev.vault.azure.net")
            .credential(new DefaultAzureCredentialBuilder().build())
            .buildClient();
        client.setSecret("greeting", "hello from Java written for Azure");
        assertEquals("hello from Java written for Azure", client.getSecret("greeting").getValue());
    }
}
