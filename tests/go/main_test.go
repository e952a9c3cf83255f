// Package witness runs the official, unmodified Azure SDK for Go (azidentity, azsecrets, azkeys,
// azcertificates) against the real strongroom binary, as a Go developer would point it at a vault.
//
// TestMain starts `strongroom serve` on free loopback ports with the shared witness installation
// (tests/witness/strongroom.toml), in a fresh folder, and stops it when the tests end. The SDK clients are
// given an HTTP client that trusts the installation's CA and maps *.localhost to 127.0.0.1, the two things a
// user does with a trust-store entry and a hosts-file line; the SDKs themselves are not touched.
package witness

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/golang-jwt/jwt/v5"
)

// The witness installation's tenant, applications and managed identity (tests/witness/strongroom.toml).
const (
	tenantID         = "3d9a6b1e-5c2f-4e8a-9b7d-1f2e3a4b5c6d"
	adminApp         = "9e0c1f2a-0000-4000-8000-00000000b001"
	readerApp        = "9e0c1f2a-0000-4000-8000-00000000b002"
	nobodyApp        = "9e0c1f2a-0000-4000-8000-00000000b003"
	certApp          = "9e0c1f2a-0000-4000-8000-00000000b004"
	workloadApp      = "9e0c1f2a-0000-4000-8000-00000000b005"
	managedIdentity  = "9e0c1f2a-0000-4000-8000-00000000e001"
	identityHeader   = "web-01-identity-header-0123456789"
	federatedIssuer  = "https://issuer.witness.test"
	federatedSubject = "system:serviceaccount:prod:witness"
	seededValue      = "seeded-value-42"
)

// What TestMain started.
var (
	folder     string
	port       int
	httpClient *http.Client
	certKey    *rsa.PrivateKey
	certChain  []*x509.Certificate
	issuerKey  *rsa.PrivateKey
)

func secretOf(app string) string { return app + "-secret-0123456789" }

func authority() string { return fmt.Sprintf("https://localhost:%d/", port) }

func vaultURL(name string) string { return fmt.Sprintf("https://%s.vault.localhost:%d/", name, port) }

func managedHSMURL(name string) string {
	return fmt.Sprintf("https://%s.managedhsm.localhost:%d/", name, port)
}

// clientOptions is what every SDK client and credential here is given: the HTTP client, the authority, and
// no retries of refused requests beyond the SDK's defaults for throttling.
func clientOptions() azcore.ClientOptions {
	return azcore.ClientOptions{
		Transport: httpClient,
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: authority()},
		Retry:     policy.RetryOptions{MaxRetries: 1, RetryDelay: 100 * time.Millisecond},
	}
}

func secretCredential(t *testing.T, app, secret string) azcore.TokenCredential {
	t.Helper()
	options := azidentity.ClientSecretCredentialOptions{ClientOptions: clientOptions(), DisableInstanceDiscovery: true}
	credential, err := azidentity.NewClientSecretCredential(tenantID, app, secret, &options)
	if err != nil {
		t.Fatal(err)
	}
	return credential
}

func adminCredential(t *testing.T) azcore.TokenCredential {
	return secretCredential(t, adminApp, secretOf("admin"))
}

// uniqueName keeps objects of different tests (and of reruns against a kept folder) apart.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%1_000_000_000)
}

// statusOf returns the HTTP status and the Key Vault error code of an SDK error, or fails the test.
func statusOf(t *testing.T, err error) (int, string) {
	t.Helper()
	var response *azcore.ResponseError
	if !errors.As(err, &response) {
		t.Fatalf("expected a response error, got %v", err)
	}
	return response.StatusCode, response.ErrorCode
}

// innerCodeOf returns the inner error code of a refusal (Key Vault's `error.innererror.code`), such as
// ForbiddenByFirewall or ForbiddenByRbac.
func innerCodeOf(t *testing.T, err error) string {
	t.Helper()
	var response *azcore.ResponseError
	if !errors.As(err, &response) || response.RawResponse == nil {
		t.Fatalf("expected a response error, got %v", err)
	}
	var body struct {
		Error struct {
			InnerError struct {
				Code string `json:"code"`
			} `json:"innererror"`
		} `json:"error"`
	}
	raw, readErr := io.ReadAll(response.RawResponse.Body)
	if readErr != nil || json.Unmarshal(raw, &body) != nil {
		t.Fatalf("the refusal's body is not Key Vault's error shape: %s", raw)
	}
	return body.Error.InnerError.Code
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	folder, err = os.MkdirTemp("", "strongroom-go-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(folder)
	if err := prepare(folder); err != nil {
		fmt.Fprintln(os.Stderr, "preparing the installation:", err)
		return 1
	}
	server, err := start(folder)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer stop(server)
	if httpClient, err = newHTTPClient(filepath.Join(folder, "ca.pem")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// prepare writes the configuration and the key material it names into folder.
func prepare(folder string) error {
	config, err := os.ReadFile(filepath.Join("..", "witness", "strongroom.toml"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(folder, "strongroom.toml"), config, 0o600); err != nil {
		return err
	}
	if certKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return err
	}
	template := x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "cert-app"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(30 * 24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, &template, &template, &certKey.PublicKey, certKey)
	if err != nil {
		return err
	}
	certificate, err := x509.ParseCertificate(der)
	if err != nil {
		return err
	}
	certChain = []*x509.Certificate{certificate}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(filepath.Join(folder, "cert-app.crt"), certPEM, 0o600); err != nil {
		return err
	}
	if issuerKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return err
	}
	b64 := base64.RawURLEncoding.EncodeToString
	jwks, err := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": "issuer-key-1", "use": "sig",
		"n": b64(issuerKey.N.Bytes()), "e": b64(big.NewInt(int64(issuerKey.E)).Bytes()),
	}}})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(folder, "issuer-jwks.json"), jwks, 0o600)
}

// start runs `strongroom serve` in folder and waits until it says where it listens.
func start(folder string) (*exec.Cmd, error) {
	binary := os.Getenv("STRONGROOM_BIN")
	if binary == "" {
		binary = "strongroom"
	}
	log, err := os.Create(filepath.Join(folder, "server.log"))
	if err != nil {
		return nil, err
	}
	server := exec.Command(binary, "serve", "--config", filepath.Join(folder, "strongroom.toml"))
	server.Dir = folder
	server.Stderr = log
	stdout, err := server.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := server.Start(); err != nil {
		return nil, err
	}
	ready := make(chan int, 1)
	go func() {
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			if address, ok := strings.CutPrefix(lines.Text(), "strongroom listening on https://"); ok {
				_, portText, _ := net.SplitHostPort(address)
				listening, _ := strconv.Atoi(portText)
				ready <- listening
			}
		}
		close(ready)
	}()
	select {
	case listening, ok := <-ready:
		if ok && listening > 0 {
			port = listening
			return server, nil
		}
	case <-time.After(60 * time.Second):
	}
	stop(server)
	return nil, fmt.Errorf("strongroom did not start; see %s", log.Name())
}

func stop(server *exec.Cmd) {
	if server.Process == nil {
		return
	}
	_ = server.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = server.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = server.Process.Kill()
		<-done
	}
}

// newHTTPClient trusts the installation's CA besides the system's roots and resolves *.localhost to
// 127.0.0.1 (glibc does not, and Go's resolver asks DNS for them).
func newHTTPClient(caFile string) (*http.Client, error) {
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	if !roots.AppendCertsFromPEM(ca) {
		return nil, errors.New("the installation's CA is not PEM")
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	transport := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
			host, portText, err := net.SplitHostPort(address)
			if err == nil && (host == "localhost" || strings.HasSuffix(host, ".localhost")) {
				address = net.JoinHostPort("127.0.0.1", portText)
			}
			return dialer.DialContext(ctx, network, address)
		},
		ForceAttemptHTTP2: true,
	}
	return &http.Client{Transport: transport, Timeout: 60 * time.Second}, nil
}

// federatedToken is what a Kubernetes cluster would project into the workload's pod: a token of the
// federated issuer for the workload's service account.
func federatedToken(t *testing.T) string {
	t.Helper()
	now := time.Now()
	claims := jwt.MapClaims{
		"iss": federatedIssuer, "sub": federatedSubject, "aud": "api://AzureADTokenExchange",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
	}
	token := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	token.Header["kid"] = "issuer-key-1"
	signed, err := token.SignedString(issuerKey)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// sha256Of is the digest the key tests sign.
func sha256Of(data []byte) []byte {
	digest := sha256.Sum256(data)
	return digest[:]
}
