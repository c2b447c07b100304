package admin

import (
	"reflect"
	"sort"
)

// Access says who may call an operation.
type Access int

const (
	// AccessPublic needs only the app_id header (/token/*, /user/register/v2).
	AccessPublic Access = iota
	// AccessUser acts as one user: a user token, or an admin token with
	// the user_id header naming the user. The user must exist and not be
	// disabled.
	AccessUser
	// AccessToken needs a valid token of either kind; the handler decides
	// (e.g. /message/send: an admin sends as anyone, a user as itself).
	AccessToken
	// AccessAdmin needs an admin token.
	AccessAdmin
)

func (a Access) String() string {
	return [...]string{"public", "user", "token", "admin"}[a]
}

// Param declares a query parameter. Handlers can only read declared
// parameters, so the OpenAPI document lists every one.
type Param struct {
	Name     string
	Type     string // "integer" (int64), "int32", "boolean", "string"
	Required bool
	Desc     string
}

// Route is one operation: its methods and path as in the Lanying API, who
// may call it, what it reads and what it answers.
type Route struct {
	Methods []string
	Path    string
	Summary string
	// Group is the OpenAPI tag: user, token, roster, message, push.
	Group  string
	Access Access
	Query  []Param
	// Body is the zero value of the JSON body's type (nil: no body);
	// handlers decode it with Req.Bind.
	Body any
	// Result is the zero value of the envelope's data (nil: boolean).
	Result any
	// Errors are the codes the operation may answer besides the ones every
	// operation of its access level may (docs and OpenAPI).
	Errors []int
	Handle func(r *Req) (any, error)

	bodyType reflect.Type
}

func (rt *Route) param(name string) *Param {
	for i := range rt.Query {
		if rt.Query[i].Name == name {
			return &rt.Query[i]
		}
	}
	return nil
}

// routeTable maps "METHOD path" to its route, and a path to its methods
// (for 405 answers).
type routeTable struct {
	byKey  map[string]*Route
	byPath map[string][]string
	all    []*Route
}

func newRouteTable(routes []*Route) (*routeTable, error) {
	t := &routeTable{byKey: map[string]*Route{}, byPath: map[string][]string{}}
	for _, rt := range routes {
		if rt.Body != nil {
			rt.bodyType = reflect.TypeOf(rt.Body)
		}
		for _, m := range rt.Methods {
			key := m + " " + rt.Path
			if _, dup := t.byKey[key]; dup {
				return nil, Errf(CodeServerError, "duplicate route %s", key)
			}
			t.byKey[key] = rt
			t.byPath[rt.Path] = append(t.byPath[rt.Path], m)
		}
		t.all = append(t.all, rt)
	}
	sort.Slice(t.all, func(i, j int) bool { return t.all[i].Path < t.all[j].Path })
	return t, nil
}
