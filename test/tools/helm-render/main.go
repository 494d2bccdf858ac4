// helm-render renders a Helm chart the way `helm template` does, for the chart tests: Go
// text/template with sprig and Helm's own functions (include, tpl, required, fail, toYaml,
// fromYaml, toJson, fromJson, lookup), values read with sigs.k8s.io/yaml (every YAML number is a
// float64, as in Helm), `-f` files merged and `--set` parsed with Helm's strvals typing (integers
// are int64, lists given by index replace the chart's list), then coalesced over values.yaml.
// Written from helm/pkg/engine, pkg/strvals and pkg/chart/common/util; built from Debian's
// golang-go, golang-github-masterminds-sprig-dev and golang-k8s-sigs-yaml-dev (no download).
//
// Usage: helm-render -chart DIR [-name RELEASE] [-namespace NS] [-f values.yaml]... [-set k=v]...
// Prints {"values": ..., "manifests": {"templates/x.yaml": "..."}, "notes": "..."} as JSON, or
// {"values": ..., "error": "..."} when a template fails (Helm checks values.schema.json before it
// renders, so the caller checks the values first); unreadable input goes to stderr with exit 1.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"sigs.k8s.io/yaml"
)

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	chartDir := flag.String("chart", "", "chart directory")
	name := flag.String("name", "release-name", "release name")
	namespace := flag.String("namespace", "default", "namespace")
	var files, sets multi
	flag.Var(&files, "f", "values file (repeatable)")
	flag.Var(&sets, "set", "key=value (repeatable)")
	flag.Parse()
	out, err := render(*chartDir, *name, *namespace, files, sets)
	if err != nil && out != nil {
		out = map[string]interface{}{"values": out["values"], "error": err.Error()}
	} else if err != nil {
		fmt.Fprintf(os.Stderr, "Error: %s\n", err)
		os.Exit(1)
	}
	_ = json.NewEncoder(os.Stdout).Encode(out)
}

func readYAMLMap(file string) (map[string]interface{}, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	m := map[string]interface{}{}
	if err := yaml.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("failed to parse %s: %w", file, err)
	}
	return m, nil
}

func render(chartDir, release, namespace string, files, sets []string) (map[string]interface{}, error) {
	meta, err := readYAMLMap(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return nil, err
	}
	defaults, err := readYAMLMap(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return nil, err
	}
	// helm's cli/values MergeValues: files merged in order, then --set parsed into the result.
	user := map[string]interface{}{}
	for _, f := range files {
		m, err := readYAMLMap(f)
		if err != nil {
			return nil, err
		}
		user = mergeMaps(user, m)
	}
	for _, s := range sets {
		if err := parseInto(s, user); err != nil {
			return nil, fmt.Errorf("failed parsing --set data: %w", err)
		}
	}
	values := coalesce(user, defaults)

	chartFiles := map[string][]byte{}
	templates := map[string]string{}
	err = filepath.Walk(chartDir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(chartDir, p)
		rel = filepath.ToSlash(rel)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.HasPrefix(rel, "templates/") {
			templates[path.Join(chartName(meta), rel)] = string(data)
		} else {
			chartFiles[rel] = data
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	top := map[string]interface{}{
		"Values": values,
		"Release": map[string]interface{}{
			"Name": release, "Namespace": namespace, "Service": "Helm", "IsInstall": true, "IsUpgrade": false, "Revision": 1,
		},
		"Chart": map[string]interface{}{
			"Name": meta["name"], "Version": meta["version"], "AppVersion": meta["appVersion"], "Description": meta["description"],
			"Type": meta["type"], "Keywords": meta["keywords"],
		},
		"Capabilities": map[string]interface{}{
			"KubeVersion": map[string]interface{}{"Version": "v1.31.0", "Major": "1", "Minor": "31", "GitVersion": "v1.31.0"},
			"APIVersions": apiVersions{},
			"HelmVersion": map[string]interface{}{"Version": "v3.16.0"},
		},
		"Files": files_(chartFiles),
	}
	rendered, err := execute(templates, top)
	if err != nil {
		return map[string]interface{}{"values": values}, err
	}
	manifests := map[string]string{}
	notes := ""
	for name, text := range rendered {
		rel := strings.TrimPrefix(name, chartName(meta)+"/")
		if rel == "templates/NOTES.txt" {
			notes = text
		} else {
			manifests[rel] = text
		}
	}
	return map[string]interface{}{"values": values, "manifests": manifests, "notes": notes}, nil
}

func chartName(meta map[string]interface{}) string { return fmt.Sprint(meta["name"]) }

// apiVersions answers .Capabilities.APIVersions.Has: the built-in groups plus monitoring.coreos.com/v1.
type apiVersions struct{}

func (apiVersions) Has(v string) bool {
	for _, known := range []string{"v1", "apps/v1", "batch/v1", "networking.k8s.io/v1", "policy/v1", "autoscaling/v2", "monitoring.coreos.com/v1"} {
		if v == known || strings.HasPrefix(v, known+"/") {
			return true
		}
	}
	return false
}

// files_ is Helm's .Files: Get, Glob and friends over the chart's non-template files.
type files_ map[string][]byte

func (f files_) Get(name string) string     { return string(f[name]) }
func (f files_) GetBytes(name string) []byte { return f[name] }
func (f files_) Lines(name string) []string {
	if f[name] == nil {
		return []string{}
	}
	return strings.Split(string(f[name]), "\n")
}
func (f files_) Glob(pattern string) files_ {
	out := files_{}
	for name, data := range f {
		if ok, _ := path.Match(pattern, name); ok {
			out[name] = data
		}
	}
	return out
}
func (f files_) AsConfig() string {
	m := map[string]string{}
	for name, data := range f {
		m[path.Base(name)] = string(data)
	}
	return toYAML(m)
}

const warnStart, warnEnd = "HELM_ERR_START", "HELM_ERR_END"

var warnRegex = regexp.MustCompile(warnStart + `((?s).*)` + warnEnd)

func execute(templates map[string]string, top map[string]interface{}) (out map[string]string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("rendering template failed: %v", r)
		}
	}()
	t := template.New("gotpl").Option("missingkey=zero")
	includedNames := map[string]int{}
	funcs := funcMap()
	funcs["include"] = includeFun(t, includedNames)
	funcs["tpl"] = tplFun(t, includedNames)
	t.Funcs(funcs)
	names := make([]string, 0, len(templates))
	for name := range templates {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if _, err := t.New(name).Parse(templates[name]); err != nil {
			return nil, fmt.Errorf("parse error in (%s): %w", name, err)
		}
	}
	out = map[string]string{}
	for _, name := range names {
		if strings.HasPrefix(path.Base(name), "_") {
			continue
		}
		vals := map[string]interface{}{}
		for k, v := range top {
			vals[k] = v
		}
		vals["Template"] = map[string]interface{}{"Name": name, "BasePath": path.Dir(name)}
		var buf strings.Builder
		if err := t.ExecuteTemplate(&buf, name, vals); err != nil {
			if m := warnRegex.FindStringSubmatch(err.Error()); m != nil {
				return nil, fmt.Errorf("execution error at (%s): %s", name, m[1])
			}
			return nil, err
		}
		out[name] = strings.ReplaceAll(buf.String(), "<no value>", "")
	}
	return out, nil
}

func funcMap() template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	f["toYaml"] = toYAML
	f["mustToYaml"] = toYAML
	f["fromYaml"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := yaml.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	f["fromYamlArray"] = func(s string) []interface{} {
		a := []interface{}{}
		if err := yaml.Unmarshal([]byte(s), &a); err != nil {
			a = []interface{}{err.Error()}
		}
		return a
	}
	f["toJson"] = func(v interface{}) string {
		data, err := json.Marshal(v)
		if err != nil {
			return ""
		}
		return string(data)
	}
	f["fromJson"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	f["required"] = func(warn string, val interface{}) (interface{}, error) {
		if val == nil {
			return val, errors.New(warnStart + warn + warnEnd)
		}
		if s, ok := val.(string); ok && s == "" {
			return val, errors.New(warnStart + warn + warnEnd)
		}
		return val, nil
	}
	f["fail"] = func(msg string) (string, error) { return "", errors.New(warnStart + msg + warnEnd) }
	f["lookup"] = func(string, string, string, string) (map[string]interface{}, error) { return map[string]interface{}{}, nil }
	f["getHostByName"] = func(string) string { return "" }
	return f
}

func toYAML(v interface{}) string {
	data, err := yaml.Marshal(v)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(data), "\n")
}

func includeFun(t *template.Template, includedNames map[string]int) func(string, interface{}) (string, error) {
	return func(name string, data interface{}) (string, error) {
		if includedNames[name] > 1000 {
			return "", fmt.Errorf("rendering template has a nested reference name: %s", name)
		}
		includedNames[name]++
		var buf strings.Builder
		err := t.ExecuteTemplate(&buf, name, data)
		includedNames[name]--
		return buf.String(), err
	}
}

func tplFun(parent *template.Template, includedNames map[string]int) func(string, interface{}) (string, error) {
	return func(text string, vals interface{}) (string, error) {
		t, err := parent.Clone()
		if err != nil {
			return "", err
		}
		t.Option("missingkey=zero")
		t.Funcs(template.FuncMap{"include": includeFun(t, includedNames), "tpl": tplFun(t, includedNames)})
		t, err = t.New(parent.Name()).Parse(text)
		if err != nil {
			return "", fmt.Errorf("cannot parse template %q: %w", text, err)
		}
		var buf strings.Builder
		if err := t.Execute(&buf, vals); err != nil {
			return "", fmt.Errorf("error during tpl function execution for %q: %w", text, err)
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
}

// mergeMaps is helm's cli/values mergeMaps: maps merge deeply, anything else replaces.
func mergeMaps(a, b map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if vm, ok := v.(map[string]interface{}); ok {
			if bv, ok := out[k].(map[string]interface{}); ok {
				out[k] = mergeMaps(bv, vm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// coalesce is chartutil's CoalesceValues for a chart without dependencies: user values win,
// tables merge, a user null deletes the chart's key, lists are replaced whole.
func coalesce(user, defaults map[string]interface{}) map[string]interface{} {
	dst := deepCopy(user).(map[string]interface{})
	coalesceTables(dst, deepCopy(defaults).(map[string]interface{}))
	return dst
}

func coalesceTables(dst, src map[string]interface{}) {
	for key, val := range src {
		dv, ok := dst[key]
		switch {
		case ok && dv == nil:
			delete(dst, key)
		case !ok:
			if val != nil {
				dst[key] = val
			}
		default:
			if sv, isTable := val.(map[string]interface{}); isTable {
				if dt, dIsTable := dv.(map[string]interface{}); dIsTable {
					coalesceTables(dt, sv)
				}
			}
		}
	}
	for key, val := range dst {
		if val == nil {
			delete(dst, key)
		}
	}
}

func deepCopy(v interface{}) interface{} {
	switch t := v.(type) {
	case map[string]interface{}:
		out := make(map[string]interface{}, len(t))
		for k, val := range t {
			out[k] = deepCopy(val)
		}
		return out
	case []interface{}:
		out := make([]interface{}, len(t))
		for i, val := range t {
			out[i] = deepCopy(val)
		}
		return out
	default:
		return v
	}
}

// parseInto is the part of helm's strvals.ParseInto the tests use: comma-separated
// `a.b[0].c=value` assignments (backslash escapes a comma or a dot), values typed like Helm's
// typedVal: true/false/null, integers as int64 unless they start with 0, otherwise strings.
func parseInto(s string, into map[string]interface{}) error {
	for _, assignment := range splitUnescaped(s, ',') {
		eq := strings.IndexRune(assignment, '=')
		if eq < 0 {
			return fmt.Errorf("key %q has no value", assignment)
		}
		segments, err := keySegments(assignment[:eq])
		if err != nil {
			return err
		}
		setPath(into, segments, typedVal(unescape(assignment[eq+1:])))
	}
	return nil
}

type segment struct {
	key   string
	index int // -1: a map key
}

var indexRe = regexp.MustCompile(`^(.*?)\[(\d+)\]$`)

func keySegments(key string) ([]segment, error) {
	var out []segment
	for _, part := range splitUnescaped(key, '.') {
		part = unescape(part)
		var indexes []int
		for {
			m := indexRe.FindStringSubmatch(part)
			if m == nil {
				break
			}
			i, _ := strconv.Atoi(m[2])
			if i > 65536 {
				return nil, fmt.Errorf("index of %d is greater than maximum supported index 65536", i)
			}
			indexes = append([]int{i}, indexes...)
			part = m[1]
		}
		if part == "" {
			return nil, fmt.Errorf("key %q has an empty segment", key)
		}
		out = append(out, segment{key: part, index: -1})
		for _, i := range indexes {
			out = append(out, segment{index: i})
		}
	}
	return out, nil
}

func setPath(node interface{}, segments []segment, value interface{}) interface{} {
	if len(segments) == 0 {
		return value
	}
	s := segments[0]
	if s.index < 0 {
		m, ok := node.(map[string]interface{})
		if !ok {
			m = map[string]interface{}{}
		}
		m[s.key] = setPath(m[s.key], segments[1:], value)
		return m
	}
	list, _ := node.([]interface{})
	for len(list) <= s.index {
		list = append(list, nil)
	}
	list[s.index] = setPath(list[s.index], segments[1:], value)
	return list
}

func typedVal(v string) interface{} {
	switch {
	case strings.EqualFold(v, "true"):
		return true
	case strings.EqualFold(v, "false"):
		return false
	case strings.EqualFold(v, "null"):
		return nil
	case v == "0":
		return int64(0)
	}
	if v != "" && v[0] != '0' {
		if i, err := strconv.ParseInt(v, 10, 64); err == nil {
			return i
		}
	}
	return v
}

func splitUnescaped(s string, sep rune) []string {
	var out []string
	var cur strings.Builder
	escaped := false
	for _, r := range s {
		switch {
		case escaped:
			cur.WriteRune('\\')
			cur.WriteRune(r)
			escaped = false
		case r == '\\':
			escaped = true
		case r == sep:
			out = append(out, cur.String())
			cur.Reset()
		default:
			cur.WriteRune(r)
		}
	}
	return append(out, cur.String())
}

func unescape(s string) string {
	var out strings.Builder
	escaped := false
	for _, r := range s {
		if !escaped && r == '\\' {
			escaped = true
			continue
		}
		escaped = false
		out.WriteRune(r)
	}
	return out.String()
}
