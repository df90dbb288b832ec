package vaultstore_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/widgetgate/widgetgate/caddymodule/internal/vaultstore"
	"github.com/widgetgate/widgetgate/internal/testenv"
)

// TestKubernetesLogin cannot log in for real: Vault's Kubernetes auth has
// the JWT checked by a Kubernetes API server's TokenReview, and there is no
// cluster here. So it runs against a real Vault whose Kubernetes auth points
// at a stand-in API server that records the token Vault asks it to review
// and always refuses, and it expects the login to FAIL. That proves the
// request is formed and posted to auth/<mount>/login with role and jwt (Vault
// forwards exactly the JWT it received), that the error names the mount and
// the role but not the JWT, and that the service account token file is read
// at each login (a rotated token is the one sent next).
func TestKubernetesLogin(t *testing.T) {
	var (
		mu       sync.Mutex
		reviewed []string
	)
	kube := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var review struct {
			Spec struct {
				Token string `json:"token"`
			} `json:"spec"`
		}
		if r.URL.Path == "/apis/authentication.k8s.io/v1/tokenreviews" && json.NewDecoder(r.Body).Decode(&review) == nil {
			mu.Lock()
			reviewed = append(reviewed, review.Spec.Token)
			mu.Unlock()
		}
		http.Error(w, `{"kind":"Status","status":"Failure","code":503}`, http.StatusServiceUnavailable)
	}))
	t.Cleanup(kube.Close)
	wasReviewed := func(jwt string) error {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range reviewed {
			if r == jwt {
				return nil
			}
		}
		return fmt.Errorf("Vault had %d tokens reviewed, not the current one", len(reviewed))
	}

	v := testenv.StartVault(t)
	if err := v.Client.Sys().EnableAuthWithOptions("k8s", &vault.EnableAuthOptions{Type: "kubernetes"}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Client.Logical().Write("auth/k8s/role/widgetgate", map[string]any{
		"bound_service_account_names": "widgetgate", "bound_service_account_namespaces": "default",
	}); err != nil {
		t.Fatal(err)
	}
	// Without a reviewer JWT or the pod's own, Vault reviews the login JWT
	// with itself as the credential.
	if _, err := v.Client.Logical().Write("auth/k8s/config", map[string]any{
		"kubernetes_host": kube.URL, "disable_local_ca_jwt": true,
	}); err != nil {
		t.Fatal(err)
	}
	// An unsigned service account JWT: Vault reads its claims (namespace,
	// name) before asking the API server, so they must look right.
	newJWT := func() string {
		b64 := base64.RawURLEncoding.EncodeToString
		return b64([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." +
			b64([]byte(`{"iss":"kubernetes/serviceaccount","sub":"system:serviceaccount:default:widgetgate",`+
				`"kubernetes.io/serviceaccount/namespace":"default",`+
				`"kubernetes.io/serviceaccount/service-account.name":"widgetgate",`+
				`"kubernetes.io/serviceaccount/service-account.uid":"`+testenv.RandomHex(t, 8)+`"}`)) + "." +
			b64([]byte(testenv.RandomHex(t, 32)))
	}
	dir := t.TempDir()
	jwt1 := newJWT()
	saFile := writeFile(t, dir, "token", jwt1+"\n")
	c := newClient(t, v.Addr)
	a, logs := startAuth(t, c, vaultstore.AuthConfig{Method: vaultstore.AuthKubernetes, KubernetesMount: "k8s",
		KubernetesRole: "widgetgate", ServiceAccountTokenFile: saFile})

	err := a.EnsureToken(context.Background())
	if err == nil {
		t.Fatal("kubernetes login succeeded without a Kubernetes API")
	}
	for _, want := range []string{"auth/k8s/login", `role "widgetgate"`, "from Vault"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	t.Logf("login error, as expected: %v", err)
	assertNoSecrets(t, "error", err.Error(), jwt1)
	if err := wasReviewed(jwt1); err != nil {
		t.Fatalf("the JWT did not reach Vault: %v", err)
	}

	// Kubernetes rotates projected tokens: the next login sends the new one.
	jwt2 := newJWT()
	writeFile(t, dir, "token", jwt2)
	// Poll: EnsureToken answers from its last attempt for a second.
	testenv.WaitFor(t, 10*time.Second, "a login with the rotated JWT", func() error {
		a.EnsureToken(context.Background())
		return wasReviewed(jwt2)
	})

	if err := os.Remove(saFile); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 10*time.Second, "a login attempt to miss the token file", func() error {
		err := a.EnsureToken(context.Background())
		if err == nil || !strings.Contains(err.Error(), saFile) {
			return fmt.Errorf("EnsureToken = %v", err)
		}
		return nil
	})
	assertNoSecrets(t, "log", logs.String(), jwt1, jwt2)
}
