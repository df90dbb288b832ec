package deploycheck

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// build runs kustomize (the library kubectl apply -k uses) on dir.
func build(t testing.TB, dir string) ([][]byte, error) {
	t.Helper()
	opts := krusty.MakeDefaultOptions()
	rm, err := krusty.MakeKustomizer(opts).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, err
	}
	var docs [][]byte
	for _, r := range rm.Resources() {
		b, err := r.AsYAML()
		if err != nil {
			return nil, err
		}
		docs = append(docs, b)
	}
	return docs, nil
}

var (
	builtOnce sync.Once
	builtDocs [][]byte
	builtErr  error
)

// built is deploy/kubernetes as kustomize builds it, one YAML document per
// object.
func built(t testing.TB) [][]byte {
	t.Helper()
	builtOnce.Do(func() { builtDocs, builtErr = build(t, deployDir("kubernetes")) })
	if builtErr != nil {
		t.Fatalf("kustomize build deploy/kubernetes: %v", builtErr)
	}
	return builtDocs
}

// buildYAML is built as one stream.
func buildYAML(t testing.TB) []byte {
	var b []byte
	for _, d := range built(t) {
		b = append(b, "---\n"...)
		b = append(b, d...)
	}
	return b
}

// objects are the built manifests, decoded strictly into k8s.io/api types:
// a field the type does not have, or a value of the wrong type, fails.
type objects struct {
	namespace  *corev1.Namespace
	sa         *corev1.ServiceAccount
	deployment *appsv1.Deployment
	pdb        *policyv1.PodDisruptionBudget
	pvcs       map[string]*corev1.PersistentVolumeClaim
	configMaps map[string]*corev1.ConfigMap
	services   map[string]*corev1.Service
}

func decodeBuilt(t testing.TB) *objects {
	t.Helper()
	o := &objects{pvcs: map[string]*corev1.PersistentVolumeClaim{}, configMaps: map[string]*corev1.ConfigMap{}, services: map[string]*corev1.Service{}}
	for _, doc := range built(t) {
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			t.Fatal(err)
		}
		strict := func(v any) {
			if err := yaml.UnmarshalStrict(doc, v); err != nil {
				t.Fatalf("%s: strict decoding into %T: %v", tm.Kind, v, err)
			}
		}
		switch tm.GroupVersionKind().String() {
		case "/v1, Kind=Namespace":
			o.namespace = new(corev1.Namespace)
			strict(o.namespace)
		case "/v1, Kind=ServiceAccount":
			o.sa = new(corev1.ServiceAccount)
			strict(o.sa)
		case "apps/v1, Kind=Deployment":
			if o.deployment != nil {
				t.Fatal("two Deployments")
			}
			o.deployment = new(appsv1.Deployment)
			strict(o.deployment)
		case "policy/v1, Kind=PodDisruptionBudget":
			o.pdb = new(policyv1.PodDisruptionBudget)
			strict(o.pdb)
		case "/v1, Kind=PersistentVolumeClaim":
			v := new(corev1.PersistentVolumeClaim)
			strict(v)
			o.pvcs[v.Name] = v
		case "/v1, Kind=ConfigMap":
			v := new(corev1.ConfigMap)
			strict(v)
			o.configMaps[v.Name] = v
		case "/v1, Kind=Service":
			v := new(corev1.Service)
			strict(v)
			o.services[v.Name] = v
		default:
			t.Fatalf("unexpected object %s in the build: add its checks", tm.GroupVersionKind())
		}
	}
	if o.namespace == nil || o.sa == nil || o.deployment == nil || o.pdb == nil {
		t.Fatal("the build lacks the Namespace, ServiceAccount, Deployment or PodDisruptionBudget")
	}
	return o
}

// container is the Deployment's widgetgate container.
func (o *objects) container(t testing.TB) *corev1.Container {
	t.Helper()
	cs := o.deployment.Spec.Template.Spec.Containers
	if len(cs) != 1 || cs[0].Name != "widgetgate" {
		t.Fatalf("want one container named widgetgate, got %d", len(cs))
	}
	return &cs[0]
}

// podCaddyfile is the Caddyfile the pod runs, from the built ConfigMap
// its volume names, adapted with the container's environment.
func (o *objects) podCaddyfile(t testing.TB) map[string]any {
	t.Helper()
	c := o.container(t)
	mount, vol := o.mountOf(t, "/etc/widgetgate/Caddyfile")
	if vol.ConfigMap == nil {
		t.Fatalf("/etc/widgetgate is volume %s, not a ConfigMap", vol.Name)
	}
	cm, ok := o.configMaps[vol.ConfigMap.Name]
	if !ok {
		t.Fatalf("volume %s names ConfigMap %s, which the build does not have", vol.Name, vol.ConfigMap.Name)
	}
	if !mount.ReadOnly {
		t.Error("the Caddyfile's mount should be read-only")
	}
	text, ok := cm.Data["Caddyfile"]
	if !ok {
		t.Fatalf("ConfigMap %s has no Caddyfile key", cm.Name)
	}
	if want := []string{"run", "--config", "/etc/widgetgate/Caddyfile", "--adapter", "caddyfile"}; !slices.Equal(c.Args, want) {
		t.Errorf("container args %v, want %v", c.Args, want)
	}
	f := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(f, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			t.Fatalf("env %s comes from elsewhere; give the check a value for it", e.Name)
		}
		env[e.Name] = e.Value
	}
	return adapt(t, f, env)
}

// mountOf finds the volume mount holding path, and its volume.
func (o *objects) mountOf(t testing.TB, path string) (corev1.VolumeMount, corev1.Volume) {
	t.Helper()
	c := o.container(t)
	var best corev1.VolumeMount
	for _, m := range c.VolumeMounts {
		if (path == m.MountPath || strings.HasPrefix(path, strings.TrimSuffix(m.MountPath, "/")+"/")) && len(m.MountPath) > len(best.MountPath) {
			best = m
		}
	}
	if best.Name == "" {
		t.Fatalf("%s is on no volume (the root filesystem is read-only)", path)
	}
	for _, v := range o.deployment.Spec.Template.Spec.Volumes {
		if v.Name == best.Name {
			return best, v
		}
	}
	t.Fatalf("volume mount %s names no volume", best.Name)
	return best, corev1.Volume{}
}

// containerPort resolves a probe's or a Service's port (a name or a
// number) to a container port number.
func (o *objects) containerPort(t testing.TB, p intstr.IntOrString) int {
	t.Helper()
	c := o.container(t)
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return int(cp.ContainerPort)
		}
	}
	t.Fatalf("port %s is none of the container's ports", p.String())
	return 0
}

func TestKustomizationIsStrict(t *testing.T) {
	// kustomize must refuse a kustomization.yaml with a misspelt field,
	// or a mistake there would go unnoticed.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresource:\n  - x.yaml\n"), 0o600)
	if _, err := build(t, dir); err == nil {
		t.Error("kustomize accepted the field resource (for resources)")
	}
}

func TestDeployment(t *testing.T) {
	o := decodeBuilt(t)
	d := o.deployment
	pod := &d.Spec.Template.Spec
	c := o.container(t)

	if d.Namespace != "widgetgate" || o.sa.Namespace != d.Namespace || o.pdb.Namespace != d.Namespace {
		t.Errorf("namespaces: deployment %q, service account %q, pdb %q", d.Namespace, o.sa.Namespace, o.pdb.Namespace)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
		t.Errorf("replicas %v, want 3", d.Spec.Replicas)
	}
	podLabels := labels.Set(d.Spec.Template.Labels)
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || !sel.Matches(podLabels) {
		t.Errorf("the Deployment's selector %v does not match its pods' labels %v", d.Spec.Selector, podLabels)
	}

	// Rollout: one at a time, never a surge pod that the required
	// anti-affinity could not place on a three-node cluster.
	ru := d.Spec.Strategy.RollingUpdate
	if d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || ru == nil || ru.MaxSurge == nil || ru.MaxSurge.IntValue() != 0 || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 1 {
		t.Errorf("strategy %+v, want RollingUpdate maxSurge 0 maxUnavailable 1", d.Spec.Strategy)
	}

	// Anti-affinity across nodes, for exactly these pods.
	var anti []corev1.PodAffinityTerm
	if pod.Affinity != nil && pod.Affinity.PodAntiAffinity != nil {
		anti = pod.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	}
	found := false
	for _, term := range anti {
		s, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
		if err == nil && term.TopologyKey == "kubernetes.io/hostname" && s.Matches(podLabels) && len(term.Namespaces) == 0 {
			found = true
		}
	}
	if !found {
		t.Error("no required pod anti-affinity on kubernetes.io/hostname selecting the Deployment's pods")
	}

	// The PodDisruptionBudget covers these pods: maxUnavailable 1.
	pdbSel, err := metav1.LabelSelectorAsSelector(o.pdb.Spec.Selector)
	if err != nil || !pdbSel.Matches(podLabels) {
		t.Errorf("the PDB's selector %v does not match the pods' labels %v", o.pdb.Spec.Selector, podLabels)
	}
	if mu := o.pdb.Spec.MaxUnavailable; mu == nil || mu.Type != intstr.Int || mu.IntVal != 1 || o.pdb.Spec.MinAvailable != nil {
		t.Errorf("PDB maxUnavailable %v minAvailable %v, want maxUnavailable 1 only", mu, o.pdb.Spec.MinAvailable)
	}

	// Requests and limits for CPU and memory, requests within limits.
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okReq := c.Resources.Requests[r]
		lim, okLim := c.Resources.Limits[r]
		if !okReq || !okLim || req.IsZero() || lim.IsZero() {
			t.Errorf("%s: request %v and limit %v must both be set", r, req.String(), lim.String())
			continue
		}
		if req.Cmp(lim) > 0 {
			t.Errorf("%s: request %s above limit %s", r, req.String(), lim.String())
		}
	}
	// The numbers README.md's "Resources" derives from BENCHMARKS.md; change
	// both together.
	for r, want := range map[string]string{"requests.cpu": "250m", "requests.memory": "128Mi", "limits.cpu": "1", "limits.memory": "256Mi"} {
		list := c.Resources.Requests
		if strings.HasPrefix(r, "limits") {
			list = c.Resources.Limits
		}
		got := list[corev1.ResourceName(strings.SplitN(r, ".", 2)[1])]
		if got.Cmp(resource.MustParse(want)) != 0 {
			t.Errorf("%s is %s; README.md's Resources section explains %s", r, got.String(), want)
		}
	}

	// Security: the restricted Pod Security Standard, and a read-only root.
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext %+v: want runAsNonRoot, a non-zero runAsUser, seccomp RuntimeDefault", psc)
	}
	sc := c.SecurityContext
	switch {
	case sc == nil:
		t.Error("the container has no securityContext")
	default:
		if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
			t.Error("container: runAsNonRoot is not true")
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Error("container: readOnlyRootFilesystem is not true")
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Error("container: allowPrivilegeEscalation is not false")
		}
		if sc.Privileged != nil && *sc.Privileged {
			t.Error("container: privileged")
		}
		if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
			t.Errorf("container capabilities %+v, want drop [ALL] and nothing added", sc.Capabilities)
		}
		if sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Error("container: seccomp profile is not RuntimeDefault")
		}
	}
	if o.namespace.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Error("the namespace does not enforce the restricted Pod Security Standard")
	}
	for _, v := range pod.Volumes {
		if v.HostPath != nil {
			t.Errorf("volume %s is a hostPath", v.Name)
		}
	}
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		t.Error("the pod shares a host namespace")
	}

	// No Kubernetes API token in the pod; the service account exists.
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("automountServiceAccountToken is not false: the pod would hold an API token it does not need")
	}
	if pod.ServiceAccountName != o.sa.Name {
		t.Errorf("serviceAccountName %q, but the build's ServiceAccount is %q", pod.ServiceAccountName, o.sa.Name)
	}

	// Every volume names something that exists.
	for _, v := range pod.Volumes {
		switch {
		case v.ConfigMap != nil:
			if _, ok := o.configMaps[v.ConfigMap.Name]; !ok {
				t.Errorf("volume %s: ConfigMap %s is not in the build", v.Name, v.ConfigMap.Name)
			}
		case v.PersistentVolumeClaim != nil:
			pvc, ok := o.pvcs[v.PersistentVolumeClaim.ClaimName]
			if !ok {
				t.Errorf("volume %s: PVC %s is not in the build", v.Name, v.PersistentVolumeClaim.ClaimName)
			} else if !slices.Contains(pvc.Spec.AccessModes, corev1.ReadWriteMany) {
				t.Errorf("PVC %s is shared by %d replicas but not ReadWriteMany", pvc.Name, *d.Spec.Replicas)
			}
		case v.Projected != nil, v.EmptyDir != nil:
		default:
			t.Errorf("volume %s: a kind the checks do not know", v.Name)
		}
	}

	// Caddy writes under XDG_CONFIG_HOME and XDG_DATA_HOME: a writable
	// volume, since the root is read-only.
	for _, e := range c.Env {
		if e.Name == "XDG_CONFIG_HOME" || e.Name == "XDG_DATA_HOME" {
			m, v := o.mountOf(t, e.Value)
			if m.ReadOnly || v.EmptyDir == nil {
				t.Errorf("%s=%s is not on a writable emptyDir", e.Name, e.Value)
			}
		}
	}

	if !regexp.MustCompile(`^[^:@]+(:[A-Za-z0-9_.-]+)?(@sha256:[0-9a-f]{64})?$`).MatchString(c.Image) || !strings.ContainsAny(c.Image, ":@") || strings.HasSuffix(c.Image, ":latest") {
		t.Errorf("image %q: want a name with a fixed tag or digest (kustomization.yaml images:)", c.Image)
	}
}

func TestServices(t *testing.T) {
	o := decodeBuilt(t)
	podLabels := labels.Set(o.deployment.Spec.Template.Labels)
	if len(o.services) == 0 {
		t.Fatal("no Service")
	}
	for name, s := range o.services {
		if s.Namespace != o.deployment.Namespace {
			t.Errorf("service %s in namespace %q", name, s.Namespace)
		}
		if len(s.Spec.Selector) == 0 || !labels.SelectorFromSet(s.Spec.Selector).Matches(podLabels) {
			t.Errorf("service %s selects %v, not the Deployment's pods %v", name, s.Spec.Selector, podLabels)
		}
		for _, p := range s.Spec.Ports {
			o.containerPort(t, p.TargetPort)
		}
	}
}

// TestManifestsMatchCaddyfile checks the Deployment against the Caddyfile
// its ConfigMap carries: the probes reach widgetgate_health on a port the
// Caddyfile listens on, every container port is served, the shutdown
// timings fit in terminationGracePeriodSeconds, the Vault login's files
// are the projected token's, the widgets directory is the shared volume.
func TestManifestsMatchCaddyfile(t *testing.T) {
	o := decodeBuilt(t)
	cfg := o.podCaddyfile(t)
	pod := &o.deployment.Spec.Template.Spec
	c := o.container(t)
	servers := serversOf(t, cfg)

	// Each container port is a Caddy server's.
	for _, cp := range c.Ports {
		if serverOnPort(servers, int(cp.ContainerPort)) == nil {
			t.Errorf("container port %s (%d): the Caddyfile listens on no such port", cp.Name, cp.ContainerPort)
		}
	}

	// Probes: an HTTP GET on a served port, answered by widgetgate_health,
	// readiness on …/ready, liveness and startup on …/live.
	healthTimeout := time.Duration(0)
	for name, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe} {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("%s probe: want an httpGet probe", name)
			continue
		}
		want := "/live"
		if name == "readiness" {
			want = "/ready"
		}
		if !strings.HasSuffix(p.HTTPGet.Path, want) {
			t.Errorf("%s probe path %s: want widgetgate_health's …%s", name, p.HTTPGet.Path, want)
		}
		port := o.containerPort(t, p.HTTPGet.Port)
		srv := serverOnPort(servers, port)
		if srv == nil {
			t.Errorf("%s probe: port %d is not served", name, port)
			continue
		}
		h := handlerFor(srv, p.HTTPGet.Path)
		if h == nil || h["handler"] != "widgetgate_health" {
			t.Errorf("%s probe: GET %s on port %d reaches %v, not widgetgate_health", name, p.HTTPGet.Path, port, h["handler"])
			continue
		}
		// The health handler answers within its timeout (default 750ms);
		// the probe must wait longer than that.
		healthTimeout = duration(h, "timeout")
		if healthTimeout == 0 {
			healthTimeout = 750 * time.Millisecond
		}
		if time.Duration(p.TimeoutSeconds)*time.Second <= healthTimeout {
			t.Errorf("%s probe timeoutSeconds %d is not above widgetgate_health's timeout %s", name, p.TimeoutSeconds, healthTimeout)
		}
	}

	// Draining: shutdown_delay keeps serving (readiness 503) longer than
	// the readiness probe needs to notice; every stage of shutdown fits in
	// terminationGracePeriodSeconds.
	httpApp := at(cfg, "apps", "http")
	delay, grace := duration(httpApp, "shutdown_delay"), duration(httpApp, "grace_period")
	answer := duration(cfg, "apps", "widgetgate", "refresh", "answer_timeout")
	if answer == 0 {
		answer = 2 * time.Minute // widgetgate's default
	}
	if rp := c.ReadinessProbe; rp != nil {
		notice := time.Duration(rp.PeriodSeconds*rp.FailureThreshold) * time.Second
		if delay <= notice {
			t.Errorf("shutdown_delay %s is not above the readiness probe's period x failureThreshold (%s): the replica would close before Kubernetes sees it unready", delay, notice)
		}
	}
	if grace == 0 {
		t.Error("grace_period is not set: Caddy would wait for requests in flight forever, and Kubernetes would kill them at the deadline")
	}
	need := delay + grace + answer + 5*time.Second
	if tgp := ptrOr(pod.TerminationGracePeriodSeconds, 30); time.Duration(tgp)*time.Second < need {
		t.Errorf("terminationGracePeriodSeconds %d is below shutdown_delay %s + grace_period %s + refresh answer_timeout %s + 5s = %s", tgp, delay, grace, answer, need)
	}
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
		t.Error("a preStop hook delays SIGTERM, so readiness would stay 200 during it; shutdown_delay does the delay")
	}

	// Vault: Kubernetes login with the projected token for the audience
	// deploy/vault/setup.sh's role requires, and the role it creates.
	vault := at(cfg, "apps", "widgetgate", "vault")
	setup := setupDefaults(t)
	if got := str(vault, "kubernetes", "role"); got != setup["ROLE"] {
		t.Errorf("the Caddyfile logs in with role %q, deploy/vault/setup.sh creates %q", got, setup["ROLE"])
	}
	if setup["NAMESPACE"] != o.deployment.Namespace || setup["SERVICE_ACCOUNT"] != o.sa.Name {
		t.Errorf("deploy/vault/setup.sh binds %s/%s, the pod runs as %s/%s", setup["NAMESPACE"], setup["SERVICE_ACCOUNT"], o.deployment.Namespace, o.sa.Name)
	}
	tokenFile := str(vault, "kubernetes", "token_file")
	if tokenFile == "" {
		t.Fatal("vault { kubernetes { token_file } } is not set: the default is the automounted API token, which this pod does not have")
	}
	checkProjected := func(file string, want func(corev1.VolumeProjection, string) bool, what string) {
		m, v := o.mountOf(t, file)
		rel := strings.TrimPrefix(strings.TrimPrefix(file, m.MountPath), "/")
		if v.Projected == nil || !slices.ContainsFunc(v.Projected.Sources, func(s corev1.VolumeProjection) bool { return want(s, rel) }) {
			t.Errorf("%s is not %s in a projected volume", file, what)
		}
	}
	checkProjected(tokenFile, func(s corev1.VolumeProjection, rel string) bool {
		return s.ServiceAccountToken != nil && s.ServiceAccountToken.Path == rel && s.ServiceAccountToken.Audience == setup["AUDIENCE"]
	}, "a service account token for audience "+setup["AUDIENCE"])
	if ca := str(vault, "ca_cert"); ca != "" {
		checkProjected(ca, func(s corev1.VolumeProjection, rel string) bool {
			return s.ConfigMap != nil && slices.ContainsFunc(s.ConfigMap.Items, func(k corev1.KeyToPath) bool { return k.Path == rel })
		}, "a CA certificate")
	} else if strings.HasPrefix(str(vault, "address"), "https://") {
		t.Error("Vault over https without ca_cert: the image's roots will not know an in-cluster CA")
	}
	if !strings.HasSuffix(strings.Split(strings.TrimPrefix(str(vault, "address"), "https://"), ":")[0], ".svc") {
		t.Errorf("vault address %s is not an in-cluster Service", str(vault, "address"))
	}

	// The widgets directory is the shared, writable volume.
	wd := str(cfg, "apps", "widgetgate", "widgets_dir")
	m, v := o.mountOf(t, wd)
	if v.PersistentVolumeClaim == nil || m.ReadOnly || m.MountPath != wd {
		t.Errorf("widgets_dir %s: want the mount point of the writable PVC, got volume %s", wd, v.Name)
	}
	// Signed caller contexts with the HS256 keys from Vault, as the Vault
	// side in README.md documents (and readiness checks).
	if at(cfg, "apps", "widgetgate", "context_keys", "hmac_vault") != true {
		t.Error("context_keys { hmac_vault } is not set, but README.md documents the keys")
	}
}

// ptrOr is *p, or def when p is nil.
func ptrOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// serversOf is the adapted config's HTTP servers by name.
func serversOf(t testing.TB, cfg map[string]any) map[string]map[string]any {
	t.Helper()
	m, _ := at(cfg, "apps", "http", "servers").(map[string]any)
	if len(m) == 0 {
		t.Fatal("the Caddyfile has no HTTP server")
	}
	out := map[string]map[string]any{}
	for k, v := range m {
		out[k] = v.(map[string]any)
	}
	return out
}

// serverOnPort is the server listening on port on every interface (a pod's
// address included).
func serverOnPort(servers map[string]map[string]any, port int) map[string]any {
	for _, s := range servers {
		ls, _ := s["listen"].([]any)
		for _, l := range ls {
			if l == ":"+strconv.Itoa(port) || l == "tcp/:"+strconv.Itoa(port) || l == "0.0.0.0:"+strconv.Itoa(port) {
				return s
			}
		}
	}
	return nil
}

// handlerFor follows Caddy's routing for a GET of path on a server (first
// matching route, into subroutes) and returns the terminal handler, nil
// when none; it knows only path matchers, and fails on others.
func handlerFor(server map[string]any, path string) map[string]any {
	routes, _ := server["routes"].([]any)
	return routeFor(routes, path)
}

func routeFor(routes []any, path string) map[string]any {
	for _, r := range routes {
		route := r.(map[string]any)
		if !routeMatches(route, path) {
			continue
		}
		hs, _ := route["handle"].([]any)
		for _, h := range hs {
			hm := h.(map[string]any)
			switch hm["handler"] {
			case "subroute":
				sub, _ := hm["routes"].([]any)
				if got := routeFor(sub, path); got != nil {
					return got
				}
			case "headers", "vars", "rewrite":
				// not terminal
			default:
				return hm
			}
		}
		if route["terminal"] == true {
			return nil
		}
	}
	return nil
}

func routeMatches(route map[string]any, path string) bool {
	sets, ok := route["match"].([]any)
	if !ok || len(sets) == 0 {
		return true
	}
	for _, s := range sets {
		set := s.(map[string]any)
		if len(set) != 1 || set["path"] == nil {
			panic(fmt.Sprintf("matcher %v: the check knows only path matchers", slices.Collect(maps.Keys(set))))
		}
		for _, p := range set["path"].([]any) {
			pat := p.(string)
			if pat == path || (strings.HasSuffix(pat, "*") && strings.HasPrefix(path, strings.TrimSuffix(pat, "*"))) {
				return true
			}
		}
	}
	return false
}

// setupDefaults reads deploy/vault/setup.sh's settings (": "${NAME:=value}"") and
// the audience its role requires.
func setupDefaults(t testing.TB) map[string]string {
	t.Helper()
	b, err := os.ReadFile(deployDir("vault", "setup.sh"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^: "\$\{([A-Z0-9_]+):=([^}]*)\}"$`).FindAllStringSubmatch(string(b), -1) {
		out[m[1]] = m[2]
	}
	if m := regexp.MustCompile(`(?m)^\s*audience=(\S+)`).FindStringSubmatch(string(b)); m != nil {
		out["AUDIENCE"] = m[1]
	}
	for _, k := range []string{"ROLE", "NAMESPACE", "SERVICE_ACCOUNT", "KV_MOUNT", "AUDIENCE"} {
		if out[k] == "" {
			t.Fatalf("deploy/vault/setup.sh: no default for %s", k)
		}
	}
	return out
}
