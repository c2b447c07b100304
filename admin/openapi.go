package admin

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
)

// openAPIPath is answered before app authentication: tools fetch it bare.
const openAPIPath = "/openapi.json"

// buildOpenAPI renders the OpenAPI 3.0 document of the routes. It is built
// from the same declarations the handlers read, so it cannot drift from
// the code; admin/openapi.json in the repository is this output (a test
// keeps them equal).
func buildOpenAPI(t *routeTable) ([]byte, error) {
	paths := map[string]map[string]any{}
	for _, rt := range t.all {
		ops := paths[rt.Path]
		if ops == nil {
			ops = map[string]any{}
			paths[rt.Path] = ops
		}
		for _, m := range rt.Methods {
			ops[strings.ToLower(m)] = operation(rt, m)
		}
	}
	doc := map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{
			"title":       "chatgate server REST API",
			"version":     "1",
			"description": "Wire-compatible with the Lanying IM server API. Every answer is HTTP 200 with {code, data, message}; code 200 is success. docs/api.md explains authentication, error codes and where chatgate chooses.",
		},
		"paths": paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{
				"accessToken": map[string]any{"type": "apiKey", "in": "header", "name": "access-token"},
			},
		},
	}
	return json.MarshalIndent(doc, "", "  ")
}

func operation(rt *Route, method string) map[string]any {
	params := []any{
		map[string]any{"name": "app_id", "in": "header", "required": true, "schema": map[string]any{"type": "string"}},
	}
	if rt.Access != AccessPublic {
		params = append(params,
			map[string]any{"name": "access-token", "in": "header", "required": true, "schema": map[string]any{"type": "string"}},
			map[string]any{"name": "user_id", "in": "header", "required": false, "schema": map[string]any{"type": "integer", "format": "int64"},
				"description": "With an admin token: act as this user. With a user token: must be the token's user or absent."})
		if rt.Group == "group" && rt.Body != nil {
			params = append(params, map[string]any{"name": "group_id", "in": "header", "required": false,
				"schema":      map[string]any{"type": "integer", "format": "int64"},
				"description": "With an admin token: the group, when the body has no group_id."})
		}
	}
	for _, p := range rt.Query {
		params = append(params, map[string]any{
			"name": p.Name, "in": "query", "required": p.Required, "description": p.Desc, "schema": paramSchema(p.Type),
		})
	}
	result := rt.Result
	if result == nil {
		result = true
	}
	codes := append([]int{CodeOK}, accessErrors(rt.Access)...)
	codes = append(codes, rt.Errors...)
	sort.Ints(codes)
	var desc strings.Builder
	desc.WriteString("Access: " + rt.Access.String() + ". Envelope codes: ")
	for i, c := range dedupe(codes) {
		if i > 0 {
			desc.WriteString(", ")
		}
		desc.WriteString(itoa(c))
	}
	op := map[string]any{
		"summary":     rt.Summary,
		"description": desc.String(),
		"tags":        []string{rt.Group},
		"operationId": strings.ToLower(method) + strings.ReplaceAll(rt.Path, "/", "_"),
		"parameters":  params,
		"responses": map[string]any{"200": map[string]any{
			"description": "The envelope; code 200 is success.",
			"content": map[string]any{"application/json": map[string]any{"schema": map[string]any{
				"type": "object",
				"properties": map[string]any{
					"code":    map[string]any{"type": "integer"},
					"message": map[string]any{"type": "string"},
					"data":    schemaOf(reflect.TypeOf(result)),
				},
			}}},
		}},
	}
	if rt.Access != AccessPublic {
		op["security"] = []any{map[string]any{"accessToken": []any{}}}
	}
	if rt.Body != nil {
		op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
			"application/json": map[string]any{"schema": schemaOf(reflect.TypeOf(rt.Body))},
		}}
	}
	return op
}

// accessErrors are the codes every operation of an access level may answer.
func accessErrors(a Access) []int {
	base := []int{CodeBadParam, CodeServerError, CodeAppNotFound, CodeRateLimited}
	switch a {
	case AccessPublic:
		return base
	case AccessUser:
		return append(base, CodeMissingToken, CodeInvalidToken, CodeNoPermission, CodeUserNotFound, CodeUserDisabled)
	default:
		return append(base, CodeMissingToken, CodeInvalidToken, CodeNoPermission)
	}
}

func dedupe(xs []int) []int {
	out := xs[:0]
	for i, x := range xs {
		if i == 0 || x != xs[i-1] {
			out = append(out, x)
		}
	}
	return out
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func paramSchema(typ string) map[string]any {
	switch typ {
	case "int32":
		return map[string]any{"type": "integer", "format": "int32"}
	case "integer":
		return map[string]any{"type": "integer", "format": "int64"}
	default:
		return map[string]any{"type": typ}
	}
}

// schemaOf renders a Go type as an OpenAPI schema, following json tags.
func schemaOf(t reflect.Type) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == reflect.TypeOf(json.RawMessage{}) {
		return map[string]any{"description": "any JSON value"}
	}
	switch t.Kind() {
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int32, reflect.Int16, reflect.Int8:
		return map[string]any{"type": "integer", "format": "int32"}
	case reflect.Int, reflect.Int64, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer", "format": "int64"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": schemaOf(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem())}
	case reflect.Interface:
		return map[string]any{"description": "any JSON value"}
	case reflect.Struct:
		props := map[string]any{}
		var required []string
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if f.Anonymous && name == "" {
				if sub, ok := schemaOf(f.Type)["properties"].(map[string]any); ok {
					for k, v := range sub {
						props[k] = v
					}
				}
				continue
			}
			if name == "" {
				name = f.Name
			}
			ps := schemaOf(f.Type)
			if d := f.Tag.Get("doc"); d != "" {
				ps["description"] = d
			}
			props[name] = ps
			if f.Tag.Get("required") == "true" && !strings.Contains(opts, "omitempty") {
				required = append(required, name)
			}
		}
		out := map[string]any{"type": "object", "properties": props}
		if len(required) > 0 {
			out["required"] = required
		}
		return out
	default:
		return map[string]any{}
	}
}
