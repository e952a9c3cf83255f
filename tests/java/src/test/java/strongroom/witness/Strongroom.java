package strongroom.witness;

import com.azure.core.credential.TokenCredential;
import com.azure.core.exception.HttpResponseException;
import com.azure.identity.ClientSecretCredentialBuilder;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.cert.X509Certificate;
import java.security.interfaces.RSAPublicKey;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.Date;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Starts the real strongroom binary once for the whole suite: `strongroom serve` with the shared witness
 * installation (tests/witness/strongroom.toml) in a fresh folder, on free loopback ports, stopped when the
 * suite ends. The JDK trusts the installation's CA through a PKCS#12 trust store, the way a Java developer
 * adds a CA (javax.net.ssl.trustStore); *.localhost resolves through the hosts file surefire names.
 */
public final class Strongroom implements BeforeAllCallback {
    static final String TENANT = "3d9a6b1e-5c2f-4e8a-9b7d-1f2e3a4b5c6d";
    static final String ADMIN_APP = "9e0c1f2a-0000-4000-8000-00000000b001";
    static final String READER_APP = "9e0c1f2a-0000-4000-8000-00000000b002";
    static final String NOBODY_APP = "9e0c1f2a-0000-4000-8000-00000000b003";
    static final String CERT_APP = "9e0c1f2a-0000-4000-8000-00000000b004";
    static final String WORKLOAD_APP = "9e0c1f2a-0000-4000-8000-00000000b005";
    static final String CLI_APP = "9e0c1f2a-0000-4000-8000-00000000b006";
    static final String MANAGED_IDENTITY = "9e0c1f2a-0000-4000-8000-00000000e001";
    static final String IDENTITY_HEADER = "web-01-identity-header-0123456789";
    static final String USER = "alice@witness";
    static final String USER_PASSWORD = "Witness-Horse-7";
    static final String FEDERATED_ISSUER = "https://issuer.witness.test";
    static final String FEDERATED_SUBJECT = "system:serviceaccount:prod:witness";
    static final String SEEDED_VALUE = "seeded-value-42";

    private static Installation installation;

    /** What the running installation offers the tests. */
    record Installation(Path folder, int port, int imdsPort, Path certificatePem, Path certificatePfx,
                        KeyPair issuerKey) {
    }

    @Override
    public void beforeAll(ExtensionContext context) throws Exception {
        synchronized (Strongroom.class) {
            if (installation == null) {
                installation = start();
                context.getRoot().getStore(ExtensionContext.Namespace.GLOBAL)
                    .put("strongroom", (AutoCloseable) Strongroom::stop);
            }
        }
    }

    static Installation installation() {
        return installation;
    }

    static String secretOf(String app) {
        return app + "-secret-0123456789";
    }

    static String authority() {
        return "https://localhost:" + installation.port() + "/";
    }

    static String vaultUrl(String vault) {
        return "https://" + vault + ".vault.localhost:" + installation.port() + "/";
    }

    static String managedHsmUrl(String hsm) {
        return "https://" + hsm + ".managedhsm.localhost:" + installation.port() + "/";
    }

    static TokenCredential secretCredential(String app, String secret) {
        return new ClientSecretCredentialBuilder().tenantId(TENANT).clientId(app).clientSecret(secret)
            .authorityHost(authority()).disableInstanceDiscovery().build();
    }

    static TokenCredential admin() {
        return secretCredential(ADMIN_APP, secretOf("admin"));
    }

    /** A name no other test (or earlier run) uses. */
    static String uniqueName(String prefix) {
        return prefix + "-" + Long.toString(System.nanoTime() % 1_000_000_000L);
    }

    /** The HTTP status of a refused SDK call. */
    static int statusOf(Throwable refusal) {
        if (refusal instanceof HttpResponseException response) {
            return response.getResponse().getStatusCode();
        }
        throw new AssertionError("expected a response error, got " + refusal, refusal);
    }

    /** The messages of a refusal and of its causes, for the AADSTS code a credential's error carries. */
    static String causes(Throwable refusal) {
        StringBuilder messages = new StringBuilder();
        for (Throwable cause = refusal; cause != null; cause = cause.getCause()) {
            messages.append(cause.getMessage()).append('\n');
        }
        return messages.toString();
    }

    /** Key Vault's inner error code of a refusal, such as ForbiddenByFirewall. */
    static String innerCodeOf(Throwable refusal) {
        if (refusal instanceof HttpResponseException response && response.getValue() != null) {
            String body = response.getValue().toString();
            int at = body.indexOf("innererror");
            if (at >= 0) {
                int code = body.indexOf("code", at);
                return body.substring(code).replaceAll("^code\\W*([A-Za-z]+).*$", "$1");
            }
        }
        return "";
    }

    /** A token the federated issuer signs for the workload's service account, as a cluster projects it. */
    static String federatedToken() throws Exception {
        long now = Instant.now().getEpochSecond();
        String header = "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"issuer-key-1\"}";
        String claims = "{\"iss\":\"" + FEDERATED_ISSUER + "\",\"sub\":\"" + FEDERATED_SUBJECT
            + "\",\"aud\":\"api://AzureADTokenExchange\",\"iat\":" + now + ",\"nbf\":" + now + ",\"exp\":"
            + (now + 600) + "}";
        Base64.Encoder b64 = Base64.getUrlEncoder().withoutPadding();
        String signingInput = b64.encodeToString(header.getBytes(StandardCharsets.UTF_8)) + "."
            + b64.encodeToString(claims.getBytes(StandardCharsets.UTF_8));
        Signature rs256 = Signature.getInstance("SHA256withRSA");
        rs256.initSign(installation.issuerKey().getPrivate());
        rs256.update(signingInput.getBytes(StandardCharsets.US_ASCII));
        return signingInput + "." + b64.encodeToString(rs256.sign());
    }

    /** A self-signed certificate for `commonName`, valid from an hour ago for `days`. */
    static X509Certificate selfSigned(KeyPair keys, String commonName, int days) throws Exception {
        X500Name subject = new X500Name("CN=" + commonName);
        Instant now = Instant.now();
        JcaX509v3CertificateBuilder builder = new JcaX509v3CertificateBuilder(subject,
            BigInteger.valueOf(now.toEpochMilli()), Date.from(now.minus(Duration.ofHours(1))),
            Date.from(now.plus(Duration.ofDays(days))), subject, keys.getPublic());
        return new JcaX509CertificateConverter()
            .getCertificate(builder.build(new JcaContentSignerBuilder("SHA256withRSA").build(keys.getPrivate())));
    }

    static KeyPair rsaKeyPair() throws Exception {
        KeyPairGenerator generator = KeyPairGenerator.getInstance("RSA");
        generator.initialize(2048);
        return generator.generateKeyPair();
    }

    static String pem(String type, byte[] der) {
        return "-----BEGIN " + type + "-----\n" + Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII))
            .encodeToString(der) + "\n-----END " + type + "-----\n";
    }

    /** A PKCS#12 file holding `key` and `certificate` under `password`. */
    static byte[] pkcs12(PrivateKey key, X509Certificate certificate, String password) throws Exception {
        KeyStore store = KeyStore.getInstance("PKCS12");
        store.load(null, null);
        store.setKeyEntry("entry", key, password.toCharArray(), new X509Certificate[] {certificate});
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        store.store(out, password.toCharArray());
        return out.toByteArray();
    }

    private static Installation start() throws Exception {
        Path folder = Files.createTempDirectory("strongroom-java-");
        // The ports Maven reserved, so that the managed-identity endpoints in this JVM's environment are right.
        String config = Files.readString(Paths.get(System.getenv("STRONGROOM_WITNESS_CONFIG")))
            .replace("\nlisten = \"127.0.0.1:0\"", "\nlisten = \"127.0.0.1:" + System.getenv("STRONGROOM_WITNESS_PORT") + "\"")
            .replace("\nimds_listen = \"127.0.0.1:0\"", "\nimds_listen = \"127.0.0.1:" + System.getenv("STRONGROOM_WITNESS_IMDS_PORT") + "\"");
        Files.writeString(folder.resolve("strongroom.toml"), config);

        KeyPair certKeys = rsaKeyPair();
        X509Certificate certificate = selfSigned(certKeys, "cert-app", 30);
        String certificatePem = pem("CERTIFICATE", certificate.getEncoded());
        Files.writeString(folder.resolve("cert-app.crt"), certificatePem);
        Path pemFile = folder.resolve("cert-app.pem");
        Files.writeString(pemFile, pem("PRIVATE KEY", certKeys.getPrivate().getEncoded()) + certificatePem);
        Path pfxFile = folder.resolve("cert-app.pfx");
        Files.write(pfxFile, pkcs12(certKeys.getPrivate(), certificate, "pfx-password"));

        KeyPair issuerKey = rsaKeyPair();
        RSAPublicKey issuerPublic = (RSAPublicKey) issuerKey.getPublic();
        Base64.Encoder b64 = Base64.getUrlEncoder().withoutPadding();
        Files.writeString(folder.resolve("issuer-jwks.json"), "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"issuer-key-1\",\"use\":\"sig\",\"n\":\""
            + b64.encodeToString(unsigned(issuerPublic.getModulus())) + "\",\"e\":\""
            + b64.encodeToString(unsigned(issuerPublic.getPublicExponent())) + "\"}]}");

        String binary = System.getenv().getOrDefault("STRONGROOM_BIN", "strongroom");
        ProcessBuilder builder = new ProcessBuilder(binary, "serve", "--config", folder.resolve("strongroom.toml").toString())
            .directory(folder.toFile())
            .redirectError(folder.resolve("server.log").toFile())
            .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        process = builder.start();
        CompletableFuture<int[]> ports = new CompletableFuture<>();
        Thread reader = new Thread(() -> {
            int imds = 0;
            try (BufferedReader lines = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = lines.readLine()) != null; ) {
                    if (line.startsWith("strongroom managed-identity endpoint on http://")) {
                        imds = Integer.parseInt(line.substring(line.lastIndexOf(':') + 1).trim());
                    }
                    if (line.startsWith("strongroom listening on https://")) {
                        ports.complete(new int[] {Integer.parseInt(line.substring(line.lastIndexOf(':') + 1).trim()), imds});
                    }
                }
            } catch (IOException e) {
                ports.completeExceptionally(e);
            }
            ports.completeExceptionally(new IllegalStateException("strongroom stopped; see " + folder.resolve("server.log")));
        }, "strongroom-stdout");
        reader.setDaemon(true);
        reader.start();
        int[] listening;
        try {
            listening = ports.get(60, TimeUnit.SECONDS);
        } catch (Exception e) {
            stop();
            throw new IllegalStateException("strongroom did not start; see " + folder.resolve("server.log"), e);
        }
        trust(folder.resolve("ca-truststore.p12"));
        return new Installation(folder, listening[0], listening[1], pemFile, pfxFile, issuerKey);
    }

    private static Process process;

    private static void stop() {
        if (process != null && process.isAlive()) {
            process.destroy();
            try {
                if (!process.waitFor(10, TimeUnit.SECONDS)) {
                    process.destroyForcibly().waitFor();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if (installation != null) {
            try (var paths = Files.walk(installation.folder())) {
                paths.sorted(java.util.Comparator.reverseOrder()).map(Path::toFile).forEach(java.io.File::delete);
            } catch (IOException e) {
                System.err.println("could not remove " + installation.folder() + ": " + e);
            }
        }
    }

    /**
     * The PKCS#12 trust store Strongroom writes beside its CA (`strongroom dev` names it in dev.env as
     * STRONGROOM_TRUST_STORE), made the JDK's for this process as a Java developer would pass it.
     */
    private static void trust(Path trustStore) {
        System.setProperty("javax.net.ssl.trustStore", trustStore.toString());
        System.setProperty("javax.net.ssl.trustStorePassword", "changeit");
        System.setProperty("javax.net.ssl.trustStoreType", "PKCS12");
    }

    private static byte[] unsigned(BigInteger number) {
        byte[] bytes = number.toByteArray();
        return bytes[0] == 0 ? java.util.Arrays.copyOfRange(bytes, 1, bytes.length) : bytes;
    }
}
