package maker

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// errTokenEndpoint is a token endpoint's failure that is not a refusal
// of the credentials (5xx, a body without a token): retried later.
func errTokenEndpoint(status int) error {
	return fmt.Errorf("maker: token endpoint answered %d", status)
}

// dataJSON is the app keys as one JSON object string ("" when none).
func dataJSON(d map[string]string) string {
	if len(d) == 0 {
		return ""
	}
	b, _ := json.Marshal(d)
	return string(b)
}

// encodeLimited marshals a message and enforces MaxPayload.
func encodeLimited(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("maker: encode: %w", err)
	}
	if len(b) > MaxPayload {
		return nil, ErrTooLarge
	}
	return b, nil
}

// ErrTooLarge is a message over the maker's size limit.
var ErrTooLarge = fmt.Errorf("maker: message over %d bytes", MaxPayload)

// ErrSilentUnsupported is a pass-through (cmd) push to a maker whose
// server API has none (OPPO, vivo, Meizu).
var ErrSilentUnsupported = fmt.Errorf("maker: pass-through pushes are not supported by this maker")

// withTokens adds "key": tokens to a JSON object.
func withTokens(obj []byte, key string, tokens []string) ([]byte, error) {
	t, err := json.Marshal(tokens)
	if err != nil {
		return nil, err
	}
	if len(obj) < 2 || obj[len(obj)-1] != '}' {
		return nil, fmt.Errorf("maker: not a JSON object")
	}
	out := make([]byte, 0, len(obj)+len(t)+len(key)+4)
	out = append(out, obj[:len(obj)-1]...)
	if len(obj) > 2 {
		out = append(out, ',')
	}
	out = append(out, strconv.Quote(key)...)
	out = append(out, ':')
	out = append(out, t...)
	return append(out, '}'), nil
}

// marked gives the listed tokens r and the others OK.
func marked(tokens, listed []string, r Result) []Result {
	bad := make(map[string]bool, len(listed))
	for _, t := range listed {
		bad[t] = true
	}
	out := make([]Result, len(tokens))
	for i, t := range tokens {
		if bad[t] {
			out[i] = r
		} else {
			out[i] = resOK
		}
	}
	return out
}

// cut shortens s to at most n runes (makers count characters).
func cut(s string, n int) string {
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos]
		}
		i++
	}
	return s
}
