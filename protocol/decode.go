package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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
	case TypeState:
		if f.BG == nil {
			return Errorf(CodeMissingField, `"bg" is required`)
		}
	case TypePing:
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
	case f.Content == "" && f.Type != "command":
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
