package witness

import (
	"context"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

func secretsClient(t *testing.T) *azsecrets.Client {
	t.Helper()
	client, err := azsecrets.NewClient(vaultURL("witness"), adminCredential(t), &azsecrets.ClientOptions{ClientOptions: clientOptions()})
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// waitFor retries check until it succeeds or ten seconds pass (deletion and recovery are answered at once
// here, but an application written for Azure polls, and so does this).
func waitFor(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Every method of azsecrets.Client, in the order an application's life would call them.
func TestEverySecretClientMethod(t *testing.T) {
	ctx := context.Background()
	client := secretsClient(t)
	name := uniqueName("go-secret")

	first, err := client.SetSecret(ctx, name, azsecrets.SetSecretParameters{
		Value: to.Ptr("v1"), ContentType: to.Ptr("text/plain"), Tags: map[string]*string{"team": to.Ptr("go")},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *first.Value != "v1" || *first.ContentType != "text/plain" || *first.Tags["team"] != "go" {
		t.Fatalf("set answered %+v", first)
	}
	second, err := client.SetSecret(ctx, name, azsecrets.SetSecretParameters{Value: to.Ptr("v2")}, nil)
	if err != nil {
		t.Fatal(err)
	}

	latest, err := client.GetSecret(ctx, name, "", nil)
	if err != nil || *latest.Value != "v2" {
		t.Fatalf("latest: %v %v", latest.Value, err)
	}
	old, err := client.GetSecret(ctx, name, first.ID.Version(), nil)
	if err != nil || *old.Value != "v1" {
		t.Fatalf("first version: %v %v", old.Value, err)
	}

	updated, err := client.UpdateSecretProperties(ctx, name, first.ID.Version(), azsecrets.UpdateSecretPropertiesParameters{
		SecretAttributes: &azsecrets.SecretAttributes{Enabled: to.Ptr(false)},
		ContentType:      to.Ptr("application/json"),
	}, nil)
	if err != nil || *updated.Attributes.Enabled || *updated.ContentType != "application/json" {
		t.Fatalf("update: %+v %v", updated, err)
	}
	_, err = client.GetSecret(ctx, name, first.ID.Version(), nil)
	if status, _ := statusOf(t, err); status != 403 {
		t.Fatalf("a disabled version's value: expected 403, got %d", status)
	}

	found := false
	for pager := client.NewListSecretPropertiesPager(nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range page.Value {
			found = found || secret.ID.Name() == name
		}
	}
	if !found {
		t.Fatalf("%s is not listed", name)
	}
	versions := 0
	for pager := client.NewListSecretPropertiesVersionsPager(name, nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		versions += len(page.Value)
	}
	if versions != 2 {
		t.Fatalf("expected 2 versions, listed %d", versions)
	}

	backup, err := client.BackupSecret(ctx, name, nil)
	if err != nil || len(backup.Value) == 0 {
		t.Fatalf("backup: %v", err)
	}

	deleted, err := client.DeleteSecret(ctx, name, nil)
	if err != nil || deleted.RecoveryID == nil {
		t.Fatalf("delete: %v", err)
	}
	waitFor(t, "the deleted secret", func() error { _, err := client.GetDeletedSecret(ctx, name, nil); return err })
	listed := false
	for pager := client.NewListDeletedSecretPropertiesPager(nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range page.Value {
			listed = listed || secret.ID.Name() == name
		}
	}
	if !listed {
		t.Fatalf("%s is not among the deleted secrets", name)
	}
	if _, err := client.RecoverDeletedSecret(ctx, name, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the recovered secret", func() error { _, err := client.GetSecret(ctx, name, "", nil); return err })

	if _, err := client.DeleteSecret(ctx, name, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deleted secret", func() error { _, err := client.GetDeletedSecret(ctx, name, nil); return err })
	if _, err := client.PurgeDeletedSecret(ctx, name, nil); err != nil {
		t.Fatal(err)
	}
	_, err = client.GetDeletedSecret(ctx, name, nil)
	if status, _ := statusOf(t, err); status != 404 {
		t.Fatalf("a purged secret: expected 404, got %d", status)
	}

	restored, err := client.RestoreSecret(ctx, azsecrets.RestoreSecretParameters{SecretBackup: backup.Value}, nil)
	if err != nil || restored.ID.Name() != name {
		t.Fatalf("restore: %v", err)
	}
	again, err := client.GetSecret(ctx, name, second.ID.Version(), nil)
	if err != nil || *again.Value != "v2" {
		t.Fatalf("the restored secret: %v %v", again.Value, err)
	}
}

func TestASecretThatDoesNotExistIsNotFound(t *testing.T) {
	_, err := secretsClient(t).GetSecret(context.Background(), "never-set", "", nil)
	if status, code := statusOf(t, err); status != 404 || code != "SecretNotFound" {
		t.Fatalf("expected 404 SecretNotFound, got %d %s", status, code)
	}
}
