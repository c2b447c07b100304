package deploy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// k8sObject is the part of a Kubernetes object the checks read.
type k8sObject struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
	Spec       struct {
		Replicas       int               `yaml:"replicas"`
		Selector       yaml.Node         `yaml:"selector"`
		MinAvailable   *int              `yaml:"minAvailable"`
		MaxUnavailable *int              `yaml:"maxUnavailable"`
		Ports          []k8sServicePort  `yaml:"ports"`
		Template       k8sPodTemplate    `yaml:"template"`
		Strategy       map[string]any    `yaml:"strategy"`
		SelectorMap    map[string]string `yaml:"-"`
	} `yaml:"spec"`
}

type k8sServicePort struct {
	Name       string `yaml:"name"`
	Port       int    `yaml:"port"`
	TargetPort string `yaml:"targetPort"`
}

type k8sPodTemplate struct {
	Metadata struct {
		Labels      map[string]string `yaml:"labels"`
		Annotations map[string]string `yaml:"annotations"`
	} `yaml:"metadata"`
	Spec struct {
		TerminationGracePeriodSeconds int `yaml:"terminationGracePeriodSeconds"`
		SecurityContext               struct {
			RunAsNonRoot bool `yaml:"runAsNonRoot"`
		} `yaml:"securityContext"`
		Containers []k8sContainer `yaml:"containers"`
		Volumes    []struct {
			Name      string `yaml:"name"`
			ConfigMap *struct {
				Name string `yaml:"name"`
			} `yaml:"configMap"`
			Secret *struct {
				SecretName string `yaml:"secretName"`
			} `yaml:"secret"`
		} `yaml:"volumes"`
	} `yaml:"spec"`
}

type k8sContainer struct {
	Name  string   `yaml:"name"`
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Env   []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			FieldRef *struct {
				FieldPath string `yaml:"fieldPath"`
			} `yaml:"fieldRef"`
			ConfigMapKeyRef *struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"configMapKeyRef"`
			SecretKeyRef *struct {
				Name     string `yaml:"name"`
				Key      string `yaml:"key"`
				Optional bool   `yaml:"optional"`
			} `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	LivenessProbe  *k8sProbe `yaml:"livenessProbe"`
	ReadinessProbe *k8sProbe `yaml:"readinessProbe"`
	Lifecycle      *struct {
		PreStop *struct {
			Sleep *struct {
				Seconds int `yaml:"seconds"`
			} `yaml:"sleep"`
		} `yaml:"preStop"`
	} `yaml:"lifecycle"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
}

type k8sProbe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

// decodeObjects reads every document of a multi-document YAML stream.
func decodeObjects(t *testing.T, name string, r io.Reader) []k8sObject {
	t.Helper()
	dec := yaml.NewDecoder(r)
	var out []k8sObject
	for {
		var o k8sObject
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if o.Kind == "" || o.APIVersion == "" || o.Metadata.Name == "" {
			t.Errorf("%s: object without kind, apiVersion or name: %+v", name, o.Metadata)
			continue
		}
		if o.Spec.Selector.Kind != 0 {
			var sel struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			}
			if err := o.Spec.Selector.Decode(&sel); err != nil || sel.MatchLabels == nil {
				// A Service's selector is the label map itself.
				_ = o.Spec.Selector.Decode(&o.Spec.SelectorMap)
			} else {
				o.Spec.SelectorMap = sel.MatchLabels
			}
		}
		out = append(out, o)
	}
}

// kustomizeTree reads a kustomization directory the way kustomize does for
// the fields this kit uses (resources, directories recursively; the
// commonLabels of `labels` pairs; namespace is not needed by the checks).
func kustomizeTree(t *testing.T, dir string) []k8sObject {
	t.Helper()
	var k struct {
		Resources []string `yaml:"resources"`
		Labels    []struct {
			Pairs map[string]string `yaml:"pairs"`
		} `yaml:"labels"`
	}
	readYAML(t, filepath.Join(dir, "kustomization.yaml"), &k)
	var out []k8sObject
	for _, r := range k.Resources {
		p := filepath.Join(dir, r)
		st, err := os.Stat(p)
		if err != nil {
			t.Fatalf("%s: resource %s: %v", dir, r, err)
		}
		if st.IsDir() {
			out = append(out, kustomizeTree(t, p)...)
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, decodeObjects(t, p, bytes.NewReader(b))...)
	}
	for i := range out {
		for _, l := range k.Labels {
			for key, v := range l.Pairs {
				if out[i].Metadata.Labels == nil {
					out[i].Metadata.Labels = map[string]string{}
				}
				out[i].Metadata.Labels[key] = v
			}
		}
	}
	return out
}

// TestKubernetes checks the manifests of deploy/kubernetes as far as it
// can without a cluster: every object parses and has what its kind needs;
// each role has a Deployment whose args `chatgate serve -check` accepts
// with the ConfigMap and Secret it mounts materialised as files and its
// environment resolved (CHATGATE_NODE from the pod name); probes on
// /healthz and /readyz at the operations port the config listens on; a
// grace period covering preStop + the gateway drain; a PodDisruptionBudget
// and Services whose selectors match the pods. With kubectl on PATH the
// example overlay is rendered by `kubectl kustomize` and checked too.
func TestKubernetes(t *testing.T) {
	objs := kustomizeTree(t, filepath.Join("kubernetes", "overlays", "example"))
	checkKubernetes(t, objs)

	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Log("kubectl not installed: the overlay was read by the test's own reader only")
		return
	}
	out, err := exec.Command("kubectl", "kustomize", filepath.Join("kubernetes", "overlays", "example")).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("kubectl kustomize: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	rendered := decodeObjects(t, "kubectl kustomize", bytes.NewReader(out))
	checkKubernetes(t, rendered)
	for _, o := range rendered {
		for _, c := range o.Spec.Template.Spec.Containers {
			if c.Image != "registry.example.com/chatgate:1.0.0" {
				t.Errorf("rendered %s runs image %q", o.Metadata.Name, c.Image)
			}
		}
		if o.Kind == "Deployment" && o.Metadata.Name == "chatgate-gateway" && o.Spec.Replicas != 3 {
			t.Errorf("the overlay's gateway replicas patch was not applied: %d", o.Spec.Replicas)
		}
	}
}

func checkKubernetes(t *testing.T, objs []k8sObject) {
	t.Helper()
	byKind := map[string]map[string]k8sObject{}
	for _, o := range objs {
		if byKind[o.Kind] == nil {
			byKind[o.Kind] = map[string]k8sObject{}
		}
		if _, dup := byKind[o.Kind][o.Metadata.Name]; dup {
			t.Errorf("two %s named %s", o.Kind, o.Metadata.Name)
		}
		byKind[o.Kind][o.Metadata.Name] = o
	}
	env := imageEnv(t)
	for _, role := range []string{"gateway", "router", "admin", "pushworker"} {
		name := "chatgate-" + role
		d, ok := byKind["Deployment"][name]
		if !ok {
			t.Errorf("no Deployment %s", name)
			continue
		}
		who := "Deployment " + name
		pod := d.Spec.Template
		if !matches(d.Spec.SelectorMap, pod.Metadata.Labels) || pod.Metadata.Labels["app.kubernetes.io/component"] != role {
			t.Errorf("%s: selector %v does not match its pods %v", who, d.Spec.SelectorMap, pod.Metadata.Labels)
		}
		if d.Spec.Replicas < 2 {
			t.Errorf("%s: %d replicas; one pod is a single point of failure", who, d.Spec.Replicas)
		}
		if !pod.Spec.SecurityContext.RunAsNonRoot {
			t.Errorf("%s: not runAsNonRoot", who)
		}
		if len(pod.Spec.Containers) != 1 {
			t.Errorf("%s: %d containers", who, len(pod.Spec.Containers))
			continue
		}
		c := pod.Spec.Containers[0]
		if c.Resources.Requests["cpu"] == "" || c.Resources.Limits["memory"] == "" {
			t.Errorf("%s: no resource requests/limits", who)
		}
		// Materialise what the container mounts, so that its config is
		// read exactly as in the pod.
		dir := t.TempDir()
		mounts := map[string]string{}
		var written []string
		for _, vm := range c.VolumeMounts {
			src := filepath.Join(dir, vm.Name)
			if err := os.MkdirAll(src, 0o700); err != nil {
				t.Fatal(err)
			}
			var data map[string]string
			for _, v := range pod.Spec.Volumes {
				switch {
				case v.Name != vm.Name:
				case v.ConfigMap != nil:
					cm, ok := byKind["ConfigMap"][v.ConfigMap.Name]
					if !ok {
						t.Errorf("%s: mounts ConfigMap %s, which is not defined", who, v.ConfigMap.Name)
					}
					data = cm.Data
				case v.Secret != nil:
					s, ok := byKind["Secret"][v.Secret.SecretName]
					if !ok {
						t.Errorf("%s: mounts Secret %s, which is not defined", who, v.Secret.SecretName)
					}
					data = s.StringData
				}
			}
			for k, v := range data {
				written = append(written, filepath.Join(src, k))
				if err := os.WriteFile(filepath.Join(src, k), []byte(v), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			mounts[vm.MountPath] = src
		}
		// Paths inside the files (secret_file, key files) name the
		// container's mounts: point them at the materialised copies.
		var pairs []string
		for target, src := range mounts {
			pairs = append(pairs, target+"/", src+"/")
		}
		for _, f := range written {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(f, []byte(strings.NewReplacer(pairs...).Replace(string(b))), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		cenv := slices.Clone(env)
		nodeFromPod := false
		for _, e := range c.Env {
			v := e.Value
			if f := e.ValueFrom; f != nil {
				switch {
				case f.FieldRef != nil && f.FieldRef.FieldPath == "metadata.name":
					v = name + "-7d9f8b6c5-x2x4z" // a pod name
					nodeFromPod = e.Name == "CHATGATE_NODE"
				case f.ConfigMapKeyRef != nil:
					cm, ok := byKind["ConfigMap"][f.ConfigMapKeyRef.Name]
					v, ok = cm.Data[f.ConfigMapKeyRef.Key], ok && cm.Data[f.ConfigMapKeyRef.Key] != ""
					if !ok {
						t.Errorf("%s: env %s refers to missing ConfigMap key %s/%s", who, e.Name, f.ConfigMapKeyRef.Name, f.ConfigMapKeyRef.Key)
					}
				case f.SecretKeyRef != nil:
					s, ok := byKind["Secret"][f.SecretKeyRef.Name]
					val, has := s.StringData[f.SecretKeyRef.Key]
					if (!ok || !has) && !f.SecretKeyRef.Optional {
						t.Errorf("%s: env %s refers to missing Secret key %s/%s", who, e.Name, f.SecretKeyRef.Name, f.SecretKeyRef.Key)
					}
					v = val
				default:
					t.Errorf("%s: env %s: unsupported valueFrom", who, e.Name)
				}
			}
			cenv = append(cenv, e.Name+"="+v)
		}
		if !nodeFromPod {
			t.Errorf("%s: CHATGATE_NODE does not come from the pod name", who)
		}
		cfg, ok := checkServeArgs(t, who, c.Args, mounts, cenv)
		if !ok {
			continue
		}
		if cfg.Roles[0] != role || len(cfg.Roles) != 1 {
			t.Errorf("%s runs roles %v", who, cfg.Roles)
		}
		if cfg.Redis.Embedded() {
			t.Errorf("%s: no Redis address", who)
		}
		if len(cfg.Apps) == 0 || cfg.Apps[0].SecretFile == "" {
			t.Errorf("%s: the app secret should come from the Secret (secret_file), got %+v", who, cfg.Apps)
		}
		_, opsPort, _ := net.SplitHostPort(cfg.Metrics.Listen)
		ports := map[string]string{}
		for _, p := range c.Ports {
			ports[p.Name] = strconv.Itoa(p.ContainerPort)
		}
		if ports["ops"] != opsPort || pod.Metadata.Annotations["prometheus.io/port"] != opsPort {
			t.Errorf("%s: ops port %q / scrape annotation %q, config listens on %s", who, ports["ops"], pod.Metadata.Annotations["prometheus.io/port"], cfg.Metrics.Listen)
		}
		for probe, want := range map[string]*k8sProbe{"/healthz": c.LivenessProbe, "/readyz": c.ReadinessProbe} {
			if want == nil || want.HTTPGet == nil || want.HTTPGet.Path != probe || want.HTTPGet.Port != "ops" {
				t.Errorf("%s: probe for %s is %+v", who, probe, want)
			}
		}
		listens := map[string]string{"gateway": cfg.Gateway.Listen, "admin": cfg.Admin.Listen}
		if l, ok := listens[role]; ok {
			_, port, _ := net.SplitHostPort(l)
			svc, ok := byKind["Service"][name]
			if !ok || len(svc.Spec.Ports) == 0 || ports[svc.Spec.Ports[0].TargetPort] != port || !matches(svc.Spec.SelectorMap, pod.Metadata.Labels) {
				t.Errorf("%s: Service %+v does not reach the pods' port %s", who, svc.Spec, port)
			}
		}
		if role == "gateway" {
			pre := 0
			if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
				pre = c.Lifecycle.PreStop.Sleep.Seconds
			}
			need := pre + int(cfg.Gateway.DrainTimeout.Seconds()) + 5
			if pre == 0 || pod.Spec.TerminationGracePeriodSeconds < need {
				t.Errorf("%s: terminationGracePeriodSeconds %d < preStop %d + drain %s + 5", who, pod.Spec.TerminationGracePeriodSeconds, pre, cfg.Gateway.DrainTimeout)
			}
		}
		pdb, ok := byKind["PodDisruptionBudget"][name]
		if !ok || !matches(pdb.Spec.SelectorMap, pod.Metadata.Labels) || (pdb.Spec.MinAvailable == nil) == (pdb.Spec.MaxUnavailable == nil) {
			t.Errorf("%s: PodDisruptionBudget %+v", who, pdb.Spec)
		}
	}

	// The Prometheus example gives every series the labels the rules use.
	b, err := os.ReadFile(filepath.Join("kubernetes", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"target_label: role", "target_label: node", "__meta_kubernetes_pod_label_app_kubernetes_io_component", "__meta_kubernetes_pod_name"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("kubernetes/prometheus.yml lacks %q", want)
		}
	}
}

func matches(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}
