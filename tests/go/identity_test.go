package witness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

// readSeeded reads the seeded secret of vault `witness` with credential, as the application would.
func readSeeded(t *testing.T, credential azcore.TokenCredential) {
	t.Helper()
	client, err := azsecrets.NewClient(vaultURL("witness"), credential, &azsecrets.ClientOptions{ClientOptions: clientOptions()})
	if err != nil {
		t.Fatal(err)
	}
	secret, err := client.GetSecret(context.Background(), "seeded", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if *secret.Value != seededValue {
		t.Fatalf("seeded secret: %q", *secret.Value)
	}
}

func TestClientSecretCredential(t *testing.T) {
	readSeeded(t, adminCredential(t))
}

func TestClientCertificateCredential(t *testing.T) {
	options := azidentity.ClientCertificateCredentialOptions{ClientOptions: clientOptions(), DisableInstanceDiscovery: true}
	credential, err := azidentity.NewClientCertificateCredential(tenantID, certApp, certChain, certKey, &options)
	if err != nil {
		t.Fatal(err)
	}
	readSeeded(t, credential)
}

func TestWorkloadIdentityCredential(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(federatedToken(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	credential, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
		ClientOptions:            clientOptions(),
		ClientID:                 workloadApp,
		TenantID:                 tenantID,
		TokenFilePath:            tokenFile,
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	readSeeded(t, credential)
}

// The App Service source: IDENTITY_ENDPOINT and IDENTITY_HEADER, as App Service sets them for the workload.
func TestManagedIdentityCredentialAppService(t *testing.T) {
	t.Setenv("IDENTITY_ENDPOINT", fmt.Sprintf("https://localhost:%d/msi/token", port))
	t.Setenv("IDENTITY_HEADER", identityHeader)
	credential, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ClientOptions: clientOptions()})
	if err != nil {
		t.Fatal(err)
	}
	readSeeded(t, credential)
}

// DefaultAzureCredential takes the application's identity from the environment, as `source dev.env` sets it.
func TestDefaultAzureCredentialFromTheEnvironment(t *testing.T) {
	t.Setenv("AZURE_TENANT_ID", tenantID)
	t.Setenv("AZURE_CLIENT_ID", adminApp)
	t.Setenv("AZURE_CLIENT_SECRET", secretOf("admin"))
	t.Setenv("AZURE_AUTHORITY_HOST", authority())
	credential, err := azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{
		ClientOptions:            clientOptions(),
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	readSeeded(t, credential)
}

func TestAWrongClientSecretGetsNoToken(t *testing.T) {
	client, err := azsecrets.NewClient(vaultURL("witness"), secretCredential(t, adminApp, "not-the-secret-0123456789"),
		&azsecrets.ClientOptions{ClientOptions: clientOptions()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.GetSecret(context.Background(), "seeded", "", nil)
	var failed *azidentity.AuthenticationFailedError
	if !errors.As(err, &failed) {
		t.Fatalf("expected an authentication failure, got %v", err)
	}
	if failed.RawResponse == nil || failed.RawResponse.StatusCode != 401 {
		t.Fatalf("expected 401 from the token endpoint: %v", err)
	}
}

func TestAnApplicationWithoutARoleIsRefusedByRBAC(t *testing.T) {
	client, err := azsecrets.NewClient(vaultURL("witness"), secretCredential(t, nobodyApp, secretOf("nobody")),
		&azsecrets.ClientOptions{ClientOptions: clientOptions()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.GetSecret(context.Background(), "seeded", "", nil)
	if status, code := statusOf(t, err); status != 403 || code != "Forbidden" {
		t.Fatalf("expected 403 Forbidden, got %d %s", status, code)
	}
	if inner := innerCodeOf(t, err); inner != "ForbiddenByRbac" {
		t.Fatalf("expected ForbiddenByRbac, got %q", inner)
	}
}

func TestAReaderSeesPropertiesButNoValue(t *testing.T) {
	client, err := azsecrets.NewClient(vaultURL("witness"), secretCredential(t, readerApp, secretOf("reader")),
		&azsecrets.ClientOptions{ClientOptions: clientOptions()})
	if err != nil {
		t.Fatal(err)
	}
	pager := client.NewListSecretPropertiesPager(nil)
	if _, err := pager.NextPage(context.Background()); err != nil {
		t.Fatalf("a reader lists secrets: %v", err)
	}
	_, err = client.GetSecret(context.Background(), "seeded", "", nil)
	if status, _ := statusOf(t, err); status != 403 {
		t.Fatalf("expected 403 for a reader's get, got %d", status)
	}
}

func TestTheFirewallRefusesALoopbackCaller(t *testing.T) {
	client, err := azsecrets.NewClient(vaultURL("walled"), adminCredential(t), &azsecrets.ClientOptions{ClientOptions: clientOptions()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.GetSecret(context.Background(), "anything", "", nil)
	if status, _ := statusOf(t, err); status != 403 {
		t.Fatalf("expected 403, got %d", status)
	}
	if inner := innerCodeOf(t, err); inner != "ForbiddenByFirewall" {
		t.Fatalf("expected ForbiddenByFirewall, got %q", inner)
	}
}
