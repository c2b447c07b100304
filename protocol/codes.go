package protocol

// Code is a stable numeric error or kick code. Codes 4000-4999 double as the
// WebSocket close status when the server closes a connection for that reason,
// so a client sees the same number in a kick frame and in the close frame.
type Code int

// Request errors: sent in an err frame; the connection stays open.
const (
	CodeBadFrame        Code = 4000 // not a JSON object, or not valid JSON
	CodeUnknownType     Code = 4001 // "t" names no client frame type
	CodeMissingField    Code = 4002 // a required field is absent or empty
	CodeBadValue        Code = 4003 // a field has the wrong type or is out of range
	CodeFrameTooLarge   Code = 4004 // frame over Limits.MaxFrameBytes; closes the connection
	CodeNotAuthed       Code = 4005 // a frame other than auth before auth succeeded
	CodeAlreadyAuthed   Code = 4006 // a second auth frame
	CodeAuthFailed      Code = 4010 // token malformed, forged or for another user
	CodeTokenExpired    Code = 4011 // token past its exp
	CodeUnknownApp      Code = 4012 // app_id names no app
	CodeAppMismatch     Code = 4013 // token was signed for another app
	CodeUserDisabled    Code = 4014 // the user is disabled
	CodeTooManyDevices  Code = 4015 // the user already has the maximum of live devices
	CodeAuthTimeout     Code = 4016 // no auth frame within the auth timeout; closes
	CodeUserUnknown     Code = 4017 // the token's user is not registered (and the app requires it) or was deleted
	CodeTokenRevoked    Code = 4018 // the token was issued before its user's tokens were revoked
	CodeForbidden       Code = 4020 // e.g. sending as another user
	CodeNotGroupMember  Code = 4021 // sending to a group the user is not in
	CodeBlocked         Code = 4022 // the recipient blacklisted the sender
	CodeMessageNotFound Code = 4023 // the message a recall or read receipt names does not exist (REST only)
	CodeMemberMuted     Code = 4024 // the group banned (muted) the sender for a while
	CodeGroupMuted      Code = 4025 // ban_all is on in the group and the sender is not an admin
	CodeGroupBlacklist  Code = 4026 // the group blacklisted the sender
	CodeGroupNotFound   Code = 4027 // the group does not exist or was destroyed
	CodeRateLimited     Code = 4029 // too many frames; the frame was dropped, not queued
	CodeInternal        Code = 5000 // server fault; the request may be retried
	CodeUnavailable     Code = 5003 // a dependency is down; retry later
	CodeKickReplaced    Code = 4101 // the same device_sn connected again
	CodeKickAdmin       Code = 4102 // an administrator kicked the device
	CodeKickDisabled    Code = 4103 // the user was disabled
	CodeKickShutdown    Code = 4104 // the gateway is draining; reconnect at once
	CodeKickSlow        Code = 4105 // the client did not read fast enough
	CodeKickIdle        Code = 4106 // no frame within the idle timeout
	CodeKickDeviceLimit Code = 4107 // the device was removed or a device cap was lowered
	CodeKickDeleted     Code = 4108 // the user was deleted
)

var codeNames = map[Code]string{
	CodeBadFrame:        "bad_frame",
	CodeUnknownType:     "unknown_type",
	CodeMissingField:    "missing_field",
	CodeBadValue:        "bad_value",
	CodeFrameTooLarge:   "frame_too_large",
	CodeNotAuthed:       "not_authenticated",
	CodeAlreadyAuthed:   "already_authenticated",
	CodeAuthFailed:      "auth_failed",
	CodeTokenExpired:    "token_expired",
	CodeUnknownApp:      "unknown_app",
	CodeAppMismatch:     "app_mismatch",
	CodeUserDisabled:    "user_disabled",
	CodeTooManyDevices:  "too_many_devices",
	CodeAuthTimeout:     "auth_timeout",
	CodeUserUnknown:     "user_unknown",
	CodeTokenRevoked:    "token_revoked",
	CodeForbidden:       "forbidden",
	CodeNotGroupMember:  "not_group_member",
	CodeBlocked:         "blocked",
	CodeMessageNotFound: "message_not_found",
	CodeMemberMuted:     "member_muted",
	CodeGroupMuted:      "group_muted",
	CodeGroupBlacklist:  "group_blacklisted",
	CodeGroupNotFound:   "group_not_found",
	CodeRateLimited:     "rate_limited",
	CodeInternal:        "internal",
	CodeUnavailable:     "unavailable",
	CodeKickReplaced:    "replaced",
	CodeKickAdmin:       "admin_kick",
	CodeKickDisabled:    "user_disabled",
	CodeKickShutdown:    "server_shutdown",
	CodeKickSlow:        "slow_consumer",
	CodeKickIdle:        "idle_timeout",
	CodeKickDeviceLimit: "device_removed",
	CodeKickDeleted:     "user_deleted",
}

// String is the code's stable short name, used as the "reason" of kick frames
// and as a metrics label.
func (c Code) String() string {
	if n, ok := codeNames[c]; ok {
		return n
	}
	return "unknown"
}

// Error is a protocol error: a code and a human-readable detail.
type Error struct {
	Code   Code
	Detail string
}

func (e *Error) Error() string { return e.Code.String() + ": " + e.Detail }

// Errorf is shorthand for a protocol error with a detail.
func Errorf(code Code, detail string) *Error { return &Error{Code: code, Detail: detail} }
