package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"unicode/utf8"
)

// Limits are the sizes and counts every frame is checked against. The server
// announces its limits in the hello frame; DefaultLimits are what the spec
// promises when a deployment does not change them.
type Limits struct {
	MaxFrameBytes   int `json:"max_frame_bytes" yaml:"max_frame_bytes"`
	MaxContentBytes int `json:"max_content_bytes" yaml:"max_content_bytes"`
	MaxExtBytes     int `json:"max_ext_bytes" yaml:"max_ext_bytes"`
	MaxCMIDBytes    int `json:"max_cmid_bytes" yaml:"max_cmid_bytes"`
	MaxTokenBytes   int `json:"max_token_bytes" yaml:"max_token_bytes"`
	MaxSyncLimit    int `json:"max_sync_limit" yaml:"max_sync_limit"`
	FramesPerSecond int `json:"frames_per_second" yaml:"frames_per_second"`
	FrameBurst      int `json:"frame_burst" yaml:"frame_burst"`
}

// DefaultLimits are the limits of the spec.
func DefaultLimits() Limits {
	return Limits{
		MaxFrameBytes:   64 << 10,
		MaxContentBytes: 32 << 10,
		MaxExtBytes:     4 << 10,
		MaxCMIDBytes:    64,
		MaxTokenBytes:   2048,
		MaxSyncLimit:    200,
		FramesPerSecond: 50,
		FrameBurst:      100,
	}
}

// DefaultSyncLimit is the page size of a sync frame that names no limit.
const DefaultSyncLimit = 100

// MaxAppIDBytes bounds app_id, which is also part of every Redis key.
const MaxAppIDBytes = 64

// MaxTypeBytes bounds the message type name.
const MaxTypeBytes = 16

// MessageTypes are the content types a send frame may carry.
var messageTypes = map[string]bool{
	"text": true, "image": true, "audio": true, "video": true, "file": true,
	"location": true, "command": true, "forward": true, "custom": true,
}

// IsMessageType reports whether t is a content type the protocol knows.
func IsMessageType(t string) bool { return messageTypes[t] }

// Decode parses one client frame and checks it against lim. It never panics
// on any input; every rejection is a *Error with the code the spec gives.
// The returned frame's Rid is set whenever the input carried a readable rid,
// even when decoding failed, so the error can answer the right request.
func Decode(data []byte, lim Limits) (*Frame, *Error) {
	if len(data) > lim.MaxFrameBytes {
		return nil, Errorf(CodeFrameTooLarge, fmt.Sprintf("frame is %d bytes, limit %d", len(data), lim.MaxFrameBytes))
	}
	// encoding/json silently replaces invalid UTF-8 with U+FFFD, which would
	// store mangled content; a JSON text must be UTF-8 anyway (RFC 8259).
	if !utf8.Valid(data) {
		return nil, Errorf(CodeBadFrame, "frame is not valid UTF-8")
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, Errorf(CodeBadFrame, "frame must be a JSON object")
	}
	body, serr := exactMembers(trimmed)
	if serr != nil {
		return nil, serr
	}
	trimmed = body
	var f Frame
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if err := dec.Decode(&f); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return &Frame{Rid: ridOf(trimmed)}, Errorf(CodeBadValue, fmt.Sprintf("field %q has the wrong type", te.Field))
		}
		var ue *json.UnsupportedValueError
		if errors.As(err, &ue) {
			return &Frame{Rid: ridOf(trimmed)}, Errorf(CodeBadValue, ue.Str)
		}
		return nil, Errorf(CodeBadFrame, "malformed JSON")
	}
	// More() misses a trailing ']' or '}', so compare offsets instead:
	// trimmed ends in non-space, so the object must end exactly there.
	if dec.InputOffset() != int64(len(trimmed)) {
		return nil, Errorf(CodeBadFrame, "trailing data after the frame")
	}
	if err := f.Validate(lim); err != nil {
		return &f, err
	}
	return &f, nil
}

// frameMembers are the member names of Frame, exactly as the spec writes
// them. Read-only after initialisation.
var frameMembers = func() map[string]bool {
	m := make(map[string]bool)
	t := reflect.TypeOf(Frame{})
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			m[name] = true
		}
	}
	return m
}()

// exactMembers checks the member names of the top-level object in data:
// a repeated name is rejected (4000), and a name that differs from a
// frame member only in case is removed, so that it is ignored like any
// unknown member. encoding/json alone matches names case-insensitively and
// keeps the last of repeated members; the spec says names are exact.
// data is returned unchanged when nothing was removed; malformed JSON is
// left for the decoder to report.
//
// It runs on every frame, so the common case (names without escapes) is a
// single allocation-free scan; names with escapes take exactMembersSlow,
// which compares them unescaped.
func exactMembers(data []byte) ([]byte, *Error) {
	type member struct{ start, keyEnd, end int } // member text data[start:end], key data[start+1:keyEnd]
	var buf [24]member
	members := buf[:0]
	depth, inStr, inKey, expectKey := 0, false, false, false
	for i := 0; i < len(data); i++ {
		c := data[i]
		if inStr {
			switch c {
			case '\\':
				if inKey {
					return exactMembersSlow(data)
				}
				i++
			case '"':
				inStr = false
				if inKey {
					inKey = false
					members[len(members)-1].keyEnd = i
				}
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
			if depth == 1 && expectKey {
				expectKey, inKey = false, true
				members = append(members, member{start: i})
			}
		case '{', '[':
			depth++
			if depth == 1 {
				expectKey = true
			}
		case '}', ']':
			if depth == 1 && len(members) > 0 {
				members[len(members)-1].end = i
			}
			depth--
		case ',':
			if depth == 1 {
				if len(members) > 0 {
					members[len(members)-1].end = i
				}
				expectKey = true
			}
		}
	}
	drop := false
	for i, m := range members {
		if m.keyEnd <= m.start {
			return data, nil // an unterminated name: the decoder reports it
		}
		key := data[m.start+1 : m.keyEnd]
		for _, o := range members[:i] {
			if bytes.Equal(key, data[o.start+1:o.keyEnd]) {
				return nil, Errorf(CodeBadFrame, fmt.Sprintf("member %q is repeated", truncate(string(key), 32)))
			}
		}
		if !frameMembers[string(key)] && foldsToMember(string(key)) {
			drop = true
		}
	}
	if !drop {
		return data, nil
	}
	// Rebuilding must not turn malformed input into a valid frame.
	if !json.Valid(data) {
		return nil, Errorf(CodeBadFrame, "malformed JSON")
	}
	out := make([]byte, 0, len(data))
	out = append(out, '{')
	for _, m := range members {
		key := string(data[m.start+1 : m.keyEnd])
		if !frameMembers[key] && foldsToMember(key) {
			continue
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, data[m.start:m.end]...)
	}
	return append(out, '}'), nil
}

// exactMembersSlow is exactMembers for frames whose member names contain
// escapes: it reads the names through encoding/json, unescaped.
func exactMembersSlow(data []byte) ([]byte, *Error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	malformed := Errorf(CodeBadFrame, "malformed JSON")
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, malformed
	}
	type member struct {
		key string
		raw json.RawMessage
	}
	var (
		members []member
		drop    bool
		seen    = make(map[string]struct{}, 8)
	)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, malformed
		}
		key, ok := tok.(string)
		if !ok {
			return nil, malformed
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, malformed
		}
		if _, dup := seen[key]; dup {
			return nil, Errorf(CodeBadFrame, fmt.Sprintf("member %q is repeated", truncate(key, 32)))
		}
		seen[key] = struct{}{}
		if !frameMembers[key] && foldsToMember(key) {
			drop = true
			continue
		}
		members = append(members, member{key, raw})
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, malformed
	}
	if !drop {
		return data, nil
	}
	out := make([]byte, 0, len(data))
	out = append(out, '{')
	for i, m := range members {
		if i > 0 {
			out = append(out, ',')
		}
		k, _ := json.Marshal(m.key)
		out = append(out, k...)
		out = append(out, ':')
		out = append(out, m.raw...)
	}
	return append(out, '}'), nil
}

// foldsToMember reports whether key matches a frame member under the
// case folding encoding/json applies.
func foldsToMember(key string) bool {
	for name := range frameMembers {
		if strings.EqualFold(key, name) {
			return true
		}
	}
	return false
}

// ridOf recovers the rid of a frame whose other fields failed to decode.
func ridOf(data []byte) uint32 {
	var r struct {
		Rid uint32 `json:"rid"`
	}
	_ = json.Unmarshal(data, &r)
	return r.Rid
}

// Validate checks a decoded client frame: its type is known, required fields
// are present and every value is in range.
func (f *Frame) Validate(lim Limits) *Error {
	switch f.T {
	case "":
		return Errorf(CodeMissingField, `"t" is required`)
	case TypeAuth:
		return f.validateAuth(lim)
	case TypeSend:
		return f.validateSend(lim)
	case TypeDAck:
		if f.ID <= 0 {
			return Errorf(CodeMissingField, `"id" is required`)
		}
	case TypeSync:
		if f.After < 0 {
			return Errorf(CodeBadValue, `"after" must be >= 0`)
		}
		if f.Limit < 0 || f.Limit > lim.MaxSyncLimit {
			return Errorf(CodeBadValue, fmt.Sprintf(`"limit" must be between 1 and %d`, lim.MaxSyncLimit))
		}
	case TypeState, TypePing:
		// An absent or null bg is false (section 3: absent members are zero).
	default:
		return Errorf(CodeUnknownType, fmt.Sprintf("unknown frame type %q", truncate(f.T, 32)))
	}
	return nil
}

func (f *Frame) validateAuth(lim Limits) *Error {
	switch {
	case f.Token == "":
		return Errorf(CodeMissingField, `"token" is required`)
	case len(f.Token) > lim.MaxTokenBytes:
		return Errorf(CodeBadValue, `"token" is too long`)
	case f.AppID == "":
		return Errorf(CodeMissingField, `"app_id" is required`)
	case !ValidAppID(f.AppID):
		return Errorf(CodeBadValue, `"app_id" must be 1-64 characters of [A-Za-z0-9_-]`)
	case f.DeviceSN == 0:
		return Errorf(CodeMissingField, `"device_sn" is required`)
	case f.DeviceSN < 0:
		return Errorf(CodeBadValue, `"device_sn" must be a positive int32`)
	case f.Platform == 0:
		return Errorf(CodeMissingField, `"platform" is required`)
	case f.Platform < PlatformIOS || f.Platform > PlatformWeb:
		return Errorf(CodeBadValue, `"platform" must be 1-6`)
	case len(f.PushToken) > 512 || len(f.Notifier) > 64:
		return Errorf(CodeBadValue, `"push_token" or "notifier" is too long`)
	}
	return nil
}

func (f *Frame) validateSend(lim Limits) *Error {
	switch {
	case f.CMID == "":
		return Errorf(CodeMissingField, `"cmid" is required`)
	case len(f.CMID) > lim.MaxCMIDBytes || strings.ContainsAny(f.CMID, ":\x00"):
		return Errorf(CodeBadValue, fmt.Sprintf(`"cmid" must be at most %d bytes without ':'`, lim.MaxCMIDBytes))
	case f.ToUser == 0 && f.ToGroup == 0:
		return Errorf(CodeMissingField, `exactly one of "to_user" and "to_group" is required`)
	case f.ToUser != 0 && f.ToGroup != 0:
		return Errorf(CodeBadValue, `only one of "to_user" and "to_group" may be given`)
	case f.ToUser < 0 || f.ToGroup < 0:
		return Errorf(CodeBadValue, `"to_user" and "to_group" must be positive`)
	case f.Type == "":
		return Errorf(CodeMissingField, `"type" is required`)
	case !IsMessageType(f.Type):
		return Errorf(CodeBadValue, fmt.Sprintf("unknown message type %q", truncate(f.Type, MaxTypeBytes)))
	case f.Content == "" && f.Type != "command" && !(f.Attachment != "" && IsFileType(f.Type)):
		return Errorf(CodeMissingField, `"content" is required`)
	case len(f.Content) > lim.MaxContentBytes:
		return Errorf(CodeBadValue, fmt.Sprintf(`"content" is over %d bytes`, lim.MaxContentBytes))
	case len(f.Ext) > lim.MaxExtBytes:
		return Errorf(CodeBadValue, fmt.Sprintf(`"ext" is over %d bytes`, lim.MaxExtBytes))
	case !utf8.ValidString(f.Content) || !utf8.ValidString(f.Ext):
		return Errorf(CodeBadValue, `"content" and "ext" must be UTF-8`)
	case f.Mentions != nil && f.ToGroup == 0:
		return Errorf(CodeBadValue, `"mentions" is for messages to a group`)
	case f.Mentions != nil && f.Mentions.Check() != "":
		return Errorf(CodeBadValue, `"mentions": `+f.Mentions.Check())
	}
	if f.Attachment != "" {
		return validAttachment(f.Attachment)
	}
	return nil
}

// ValidAppID reports whether s is a well-formed app id. App ids become part
// of Redis keys, so the alphabet is closed.
func ValidAppID(s string) bool {
	if s == "" || len(s) > MaxAppIDBytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// Encode marshals a server frame. Frames hold only encodable fields, so an
// error here is a programming error and is returned for the caller to log.
func Encode(f *Frame) ([]byte, error) {
	b, err := json.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("encode %s frame: %w", f.T, err)
	}
	return b, nil
}

// ConvID names the conversation a message belongs to. Two users share one
// conversation whichever of them sends, so the lower id comes first.
func ConvID(from, toUser, toGroup int64) string {
	if toGroup != 0 {
		return fmt.Sprintf("g:%d", toGroup)
	}
	a, b := from, toUser
	if a > b {
		a, b = b, a
	}
	return fmt.Sprintf("u:%d:%d", a, b)
}
