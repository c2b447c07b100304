package admin

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
)

// Ids in JSON bodies may be decimal strings as well as numbers: JavaScript
// callers keep 63-bit message ids as strings (PROTOCOL.md section 2), and
// user and group ids travel the same way. Bind first decodes the body as
// is; only when that fails on a string where an int64 was wanted does it
// rewrite such strings into numbers (idStringsToNumbers) and decode again,
// so the common path pays nothing.

// idStringsToNumbers returns body with every JSON string that sits where t
// holds an int64 (a field, a pointer, an element of a slice or array, at
// any depth) and is a canonical decimal integer replaced by that number.
// ok is false when nothing was replaced or body is not JSON; the caller
// then reports the original error.
func idStringsToNumbers(body []byte, t reflect.Type) (out []byte, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	v, changed := rewriteIDs(v, t)
	if !changed {
		return nil, false
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, false
	}
	return out, true
}

func rewriteIDs(v any, t reflect.Type) (any, bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int64:
		if s, isStr := v.(string); isStr && decimalInt(s) {
			return json.Number(s), true
		}
	case reflect.Slice, reflect.Array:
		list, isList := v.([]any)
		if !isList {
			return v, false
		}
		changed := false
		for i, e := range list {
			var c bool
			list[i], c = rewriteIDs(e, t.Elem())
			changed = changed || c
		}
		return list, changed
	case reflect.Struct:
		obj, isObj := v.(map[string]any)
		if !isObj {
			return v, false
		}
		changed := false
		for key, e := range obj {
			ft, found := fieldType(t, key)
			if !found {
				continue
			}
			var c bool
			obj[key], c = rewriteIDs(e, ft)
			changed = changed || c
		}
		return obj, changed
	}
	return v, false
}

// fieldType finds the field a JSON member binds to, matching names the way
// encoding/json does (exact first, then case-insensitively).
func fieldType(t reflect.Type, key string) (reflect.Type, bool) {
	var folded reflect.Type
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if name == key {
			return f.Type, true
		}
		if folded == nil && strings.EqualFold(name, key) {
			folded = f.Type
		}
	}
	return folded, folded != nil
}

// decimalInt reports whether s is an optionally negative decimal integer
// without leading zeros that fits an int64 (range is checked by the
// decoder, which reports an out-of-range value as usual).
func decimalInt(s string) bool {
	d := strings.TrimPrefix(s, "-")
	if d == "" || len(d) > 19 || (d[0] == '0' && len(d) > 1) {
		return false
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return false
		}
	}
	return true
}
