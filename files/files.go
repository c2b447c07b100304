// Package files owns the rules of chatgate's files: who may get an upload
// URL for what (their own avatar, a group they may modify, a conversation
// they belong to), who may download a chat file (the members of its
// conversation and admin tokens), the group shared files and their
// permissions, thumbnails, forwarded copies, and the lifecycle of stored
// objects (orphaned uploads, deleted users, destroyed groups).
//
// The bytes live in an objstore.Backend; what chatgate knows about each
// object lives in the store (store.FileRecord). The REST dialects (admin/
// for Lanying) parse requests, call a Service method and shape its answer:
//
//	g, err := svc.UploadChat(ctx, app, files.Actor{UserID: 7}, 102, 8, files.ToUser)
//	// g.Upload.URL, g.Upload.Method, g.Upload.Fields, g.DownloadURL
package files

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/objstore"
	"github.com/chatgate/chatgate/protocol"
	"github.com/chatgate/chatgate/store"
)

// Actor is who asks: an admin token (acting as the app, or for UserID when
// set) or a user.
type Actor struct {
	Admin  bool
	UserID int64
}

// Target types of chat uploads (Lanying's to_type).
const (
	ToUser  = 1
	ToGroup = 2
)

// Errors of the rules; the REST dialects map them to their codes.
var (
	ErrNoPermission      = errors.New("files: no permission")
	ErrGroupNotFound     = errors.New("files: group does not exist")
	ErrNotMember         = errors.New("files: not a group member")
	ErrNeedGroupAdmin    = errors.New("files: needs the group's admin or owner")
	ErrUserNotFound      = errors.New("files: user does not exist")
	ErrFileNotFound      = errors.New("files: file does not exist")
	ErrGroupFileNotFound = errors.New("files: group shared file does not exist")
	ErrGroupFilePerm     = errors.New("files: no permission to operate the group shared file")
	ErrStorage           = errors.New("files: storage error")
)

// BadRequest is a malformed or out-of-range parameter.
type BadRequest struct{ Param, Msg string }

func (e *BadRequest) Error() string { return "files: " + e.Param + ": " + e.Msg }

func bad(param, format string, args ...any) error {
	return &BadRequest{Param: param, Msg: fmt.Sprintf(format, args...)}
}

// Deps are what a Service works with.
type Deps struct {
	Backend objstore.Backend
	Store   *store.Store
	Groups  Groups
	Log     *slog.Logger
	Metrics prometheus.Registerer
	Now     func() time.Time
	// APIURL is the REST API's base URL as clients reach it, without a
	// trailing slash: download_url values are built on it.
	APIURL string
}

// Service applies the rules.
type Service struct {
	cfg     config.Files
	d       Deps
	now     func() time.Time
	log     *slog.Logger
	metrics *metrics
}

// New builds a Service.
func New(cfg config.Files, d Deps) (*Service, error) {
	if d.Backend == nil || d.Store == nil || d.Groups == nil {
		return nil, errors.New("files: backend, store and groups are required")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	d.APIURL = strings.TrimRight(d.APIURL, "/")
	m, err := newMetrics(d.Metrics)
	if err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, d: d, now: d.Now, log: d.Log.With("part", "files"), metrics: m}, nil
}

// Grant is an issued upload: how to upload, and the URL the file is known
// by afterwards (what messages, avatars and group files carry).
type Grant struct {
	Key         string
	Upload      *objstore.Upload
	DownloadURL string
}

// Object key prefixes: user avatars, group avatars, chat files,
// thumbnails. A key is "<prefix>/<id>/<128 random bits>" (chat files:
// "c/<random>"), so keys are not guessable.
const (
	kindUserAvatar  = "user_avatar"
	kindGroupAvatar = "group_avatar"
	kindChat        = "chat"
)

func newKey(parts ...string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return strings.Join(append(parts, hex.EncodeToString(b[:])), "/")
}

// download paths of the REST API the URLs point at.
const (
	chatPath   = "/file/download/chat"
	avatarPath = "/file/download/avatar"
)

func (s *Service) chatURL(key string) string {
	return s.d.APIURL + chatPath + "?file_sign=" + url.QueryEscape(key)
}

func (s *Service) avatarURL(key string) string {
	return s.d.APIURL + avatarPath + "?object_name=" + url.QueryEscape(key)
}

// KeyOf returns the object key of a chatgate download URL (or a bare
// file_sign), and false for anything else, such as another site's URL.
func KeyOf(raw string) (string, bool) {
	if objstore.ValidKey(raw) {
		return raw, true
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", false
	}
	var k string
	switch {
	case strings.HasSuffix(u.Path, chatPath):
		k = u.Query().Get("file_sign")
	case strings.HasSuffix(u.Path, avatarPath):
		k = u.Query().Get("object_name")
	default:
		return "", false
	}
	return k, objstore.ValidKey(k)
}

// issue records the object and signs its upload.
func (s *Service) issue(ctx context.Context, app string, key string, rec store.FileRecord, pending bool, download string) (*Grant, error) {
	now := s.now()
	rec.Created = now.UnixMilli()
	if err := s.d.Store.PutFileRecord(ctx, app, key, rec, pending); err != nil {
		return nil, err
	}
	up, err := s.d.Backend.Upload(ctx, objstore.Object{App: app, Key: key},
		objstore.Conditions{MaxBytes: rec.Max, Expires: now.Add(s.cfg.UploadTTL)})
	if err != nil {
		s.log.Error("signing an upload failed", "app", app, "key", key, "err", err)
		return nil, fmt.Errorf("%w: %v", ErrStorage, err)
	}
	s.metrics.issued.WithLabelValues(rec.Kind).Inc()
	return &Grant{Key: key, Upload: up, DownloadURL: download}, nil
}

// UploadUserAvatar issues an avatar upload for uid: a user for itself, an
// admin token for any user.
func (s *Service) UploadUserAvatar(ctx context.Context, app string, a Actor, uid int64) (*Grant, error) {
	if uid <= 0 {
		return nil, bad("user_id", "an admin token names the user with the user_id header")
	}
	if !a.Admin && a.UserID != uid {
		return nil, ErrNoPermission
	}
	key := newKey("ua", strconv.FormatInt(uid, 10))
	// Avatars are referenced by the profile once set; until then they are
	// orphan candidates like any upload.
	return s.issue(ctx, app, key, store.FileRecord{Kind: kindUserAvatar, Owner: uid, Max: s.cfg.MaxAvatarBytes}, true, s.avatarURL(key))
}

// UploadGroupAvatar issues an avatar upload for a group: its owner and
// admins, or an admin token.
func (s *Service) UploadGroupAvatar(ctx context.Context, app string, a Actor, gid int64) (*Grant, error) {
	if gid <= 0 {
		return nil, bad("group_id", "required: a positive group id")
	}
	if err := s.requireRole(ctx, app, a, gid, RoleAdmin, ErrNeedGroupAdmin); err != nil {
		return nil, err
	}
	key := newKey("ga", strconv.FormatInt(gid, 10))
	// Not an orphan candidate: the group's profile is set through the
	// group API, which does not report it here; the avatar lives as long
	// as the group.
	return s.issue(ctx, app, key, store.FileRecord{Kind: kindGroupAvatar, Owner: a.UserID, Group: gid, Max: s.cfg.MaxAvatarBytes}, false, s.avatarURL(key))
}

// fileTypes are Lanying's chat file types: 1xx chat files, 2xx group
// shared files.
var fileTypes = map[int32]bool{100: true, 101: true, 102: true, 103: true, 104: true, 200: true, 201: true, 202: true, 203: true}

// UploadChat issues a chat file upload into the conversation of the actor
// with toID (a user, or a group the actor is a member of).
func (s *Service) UploadChat(ctx context.Context, app string, a Actor, fileType int32, toID int64, toType int32) (*Grant, error) {
	if !fileTypes[fileType] {
		return nil, bad("file_type", "must be 100-104 or 200-203, got %d", fileType)
	}
	conv, gid, err := s.conversation(ctx, app, a, toID, toType)
	if err != nil {
		return nil, err
	}
	if fileType >= 200 && gid == 0 {
		return nil, bad("to_type", "shared files (file_type 2xx) belong to a group: to_type 2")
	}
	key := newKey("c")
	rec := store.FileRecord{Kind: kindChat, Owner: a.UserID, Conv: conv, Group: gid, FileType: fileType, Max: s.cfg.MaxFileBytes}
	return s.issue(ctx, app, key, rec, true, s.chatURL(key))
}

// conversation checks that a may post into the conversation with toID and
// names it.
func (s *Service) conversation(ctx context.Context, app string, a Actor, toID int64, toType int32) (conv string, gid int64, err error) {
	if toID <= 0 {
		return "", 0, bad("to_id", "required: a positive id")
	}
	switch toType {
	case 0, ToUser:
		st, err := s.d.Store.UserState(ctx, app, toID)
		if err != nil {
			return "", 0, err
		}
		if st == store.UserMissing {
			return "", 0, ErrUserNotFound
		}
		return protocol.ConvID(a.UserID, toID, 0), 0, nil
	case ToGroup:
		if err := s.requireRole(ctx, app, a, toID, RoleMember, ErrNotMember); err != nil {
			return "", 0, err
		}
		return store.GroupConv(toID), toID, nil
	}
	return "", 0, bad("to_type", "must be 1 (user) or 2 (group), got %d", toType)
}

// requireRole checks a's role in gid: admin tokens pass (an existing
// group), users need at least min, else deny.
func (s *Service) requireRole(ctx context.Context, app string, a Actor, gid int64, min Role, deny error) error {
	role, exists, err := s.d.Groups.Role(ctx, app, gid, a.UserID)
	if err != nil {
		return err
	}
	if !exists {
		return ErrGroupNotFound
	}
	if a.Admin {
		return nil
	}
	if role < min {
		if role == RoleNone && min > RoleMember {
			return ErrNotMember
		}
		return deny
	}
	return nil
}

// canRead reports whether a may read a chat file of conv.
func (s *Service) canRead(ctx context.Context, app string, a Actor, rec *store.FileRecord) error {
	if a.Admin {
		return nil
	}
	if rec.Kind != kindChat {
		// Avatars are visible to every user of the app.
		return nil
	}
	if gid, ok := strings.CutPrefix(rec.Conv, "g:"); ok {
		g, _ := strconv.ParseInt(gid, 10, 64)
		return s.requireRole(ctx, app, a, g, RoleMember, ErrNotMember)
	}
	if rest, ok := strings.CutPrefix(rec.Conv, "u:"); ok {
		lo, hi, _ := strings.Cut(rest, ":")
		me := strconv.FormatInt(a.UserID, 10)
		if lo == me || hi == me {
			return nil
		}
	}
	return ErrNoPermission
}

// Referenced takes the chatgate files named by urls (attachment URLs,
// avatar URLs, group file URLs) off the orphan queue. URLs of other sites
// are ignored.
func (s *Service) Referenced(ctx context.Context, app string, urls ...string) error {
	var keys []string
	for _, u := range urls {
		if k, ok := KeyOf(u); ok {
			keys = append(keys, k)
		}
	}
	return s.d.Store.MarkFilesUsed(ctx, app, keys...)
}
