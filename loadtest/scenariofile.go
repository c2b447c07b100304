package loadtest

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// A scenario file is YAML whose keys are the harness's flag names and
// whose values are what the flag would be given (lists become
// comma-separated), e.g. configs/loadtest-chat.yaml. Everything a run can
// do is therefore a flag first, and a file is just a saved command line
// that can be reviewed and versioned; flags on the command line override
// it.

// findConfigArg returns the value of -config in args, if any, before the
// flag set parses them (the file supplies defaults the flags override).
func findConfigArg(args []string) string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return ""
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "config" {
			continue
		}
		if hasVal {
			return val
		}
		if i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// applyScenarioFile sets the flags of fs from the scenario file at path.
func applyScenarioFile(fs *flag.FlagSet, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("scenario file: %w", err)
	}
	return applyScenario(fs, b, path)
}

func applyScenario(fs *flag.FlagSet, b []byte, path string) error {
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("scenario file %s: %w", path, err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "config" || k == "worker" {
			return fmt.Errorf("scenario file %s: %q cannot be set in a file", path, k)
		}
		if fs.Lookup(k) == nil {
			return fmt.Errorf("scenario file %s: unknown key %q (keys are the flag names of chatgate loadtest)", path, k)
		}
		v, err := flagValue(m[k])
		if err != nil {
			return fmt.Errorf("scenario file %s: %s: %w", path, k, err)
		}
		if err := fs.Set(k, v); err != nil {
			return fmt.Errorf("scenario file %s: %s: %w", path, k, err)
		}
	}
	return nil
}

// flagValue turns a YAML scalar or list of scalars into a flag's text.
func flagValue(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			s, err := flagValue(e)
			if err != nil {
				return "", err
			}
			if strings.Contains(s, ",") {
				return "", fmt.Errorf("list item %q contains a comma", s)
			}
			parts[i] = s
		}
		return strings.Join(parts, ","), nil
	case map[string]any:
		return "", fmt.Errorf("a map is not a flag value")
	case float64:
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%f", x), "0"), "."), nil
	default:
		return fmt.Sprint(x), nil
	}
}
