package admin

import (
	"errors"
	"fmt"
)

// Codes of the response envelope. 200 is success; the rest are Lanying's
// error codes (seed 000's appendix), plus chatgate's own in the 4xxxx range
// where Lanying has none. docs/api.md lists what each operation returns.
const (
	CodeOK = 200

	CodeUserNotFound     = 10000 // user does not exist
	CodeBadParam         = 10002 // incorrect request parameter
	CodeMissingToken     = 10003 // missing access-token header
	CodeUserExists       = 10004 // user already exists
	CodeAlreadyFriend    = 10005 // user already in friend list
	CodeAlreadyBlocked   = 10006 // user already in blacklist
	CodeNotFriend        = 10007 // friend does not exist or expired
	CodeInvalidToken     = 10008 // invalid access-token
	CodeNoPermission     = 10010 // user has no permission
	CodeFriendRejected   = 10012 // user rejected friend request
	CodeListTooLong      = 12005 // push target list over 500
	CodePushDisabled     = 12006 // push features not enabled (no credentials for the provider)
	CodeServerError      = 20000 // server database exception
	CodeGroupNotFound    = 20001 // group does not exist
	CodeNotGroupMember   = 20002 // user is not a group member
	CodeAppNotFound      = 40000 // app_id does not exist
	CodeRateLimited      = 40029 // chatgate: the app's request rate limit was exceeded
	CodeNotFound         = 40404 // chatgate: no such operation (method and path)
	CodeBodyTooLarge     = 40013 // chatgate: request body over admin.max_body_bytes
	CodeUnavailable      = 40503 // chatgate: the server is shutting down or a dependency timed out
	CodeMessageNotFound  = 10013 // chatgate: message does not exist (recall, ack)
	CodeBlocked          = 10014 // chatgate: the recipient blacklisted the sender
	CodeWrongPassword    = 10015 // chatgate: wrong username or password
	CodeUserDisabled     = 10016 // chatgate: the user is disabled
	CodeDuplicateRequest = 10017 // chatgate: same request_id / transaction_id seen before
)

// Error is a business error: answered with HTTP 200 and the envelope
// {"code": Code, "message": Msg}, as Lanying does.
type Error struct {
	Code int
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("admin: code %d: %s", e.Code, e.Msg) }

// Errf returns a business error with a formatted message.
func Errf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// BadParam is the error of a missing or malformed parameter; the message
// names the parameter so the caller can fix the request.
func BadParam(name, format string, args ...any) *Error {
	return &Error{Code: CodeBadParam, Msg: name + ": " + fmt.Sprintf(format, args...)}
}

// asError maps any error to the envelope's code and message. Errors that
// are not *Error are internal: the caller gets 20000 and a generic text,
// the log gets the detail.
func asError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return &Error{Code: CodeServerError, Msg: "server error"}, false
}
