package files

import (
	"context"
	"errors"
	"net/url"
	"unicode/utf8"

	"github.com/chatgate/chatgate/objstore"
	"github.com/chatgate/chatgate/store"
)

// Group shared files: members read them; the uploader, the group's admins
// and its owner (and admin tokens) rename and delete them.

// Limits of group shared files.
const (
	maxFileNameBytes = 255
	maxURLBytes      = 1024
	maxTypeBytes     = 64
	// MaxGroupFilePage is the largest page of /group/file/list.
	MaxGroupFilePage = 100
)

// NewGroupFile is what a member declares after uploading.
type NewGroupFile struct {
	Name string
	Size int64
	Type string
	URL  string
}

// GroupFileUpload adds a shared file to a group. A chatgate URL must name
// a file uploaded into this group (an upload of /file/upload/chat with
// to_type 2); its stored size wins over the declared one.
func (s *Service) GroupFileUpload(ctx context.Context, app string, a Actor, gid int64, f NewGroupFile) (*store.GroupFile, error) {
	if err := s.groupRead(ctx, app, a, gid); err != nil {
		return nil, err
	}
	switch {
	case f.Name == "" || len(f.Name) > maxFileNameBytes || !utf8.ValidString(f.Name):
		return nil, bad("name", "required: 1 to %d bytes of UTF-8", maxFileNameBytes)
	case f.Size < 0:
		return nil, bad("size", "must not be negative")
	case len(f.Type) > maxTypeBytes:
		return nil, bad("type", "at most %d bytes", maxTypeBytes)
	case f.URL == "" || len(f.URL) > maxURLBytes:
		return nil, bad("url", "required: at most %d bytes", maxURLBytes)
	}
	gf := &store.GroupFile{GroupID: gid, Name: f.Name, Size: f.Size, Type: f.Type, URL: f.URL, Uploader: a.UserID}
	if key, ok := KeyOf(f.URL); ok {
		rec, err := s.d.Store.GetFileRecord(ctx, app, key)
		if errors.Is(err, store.ErrNotFound) || (err == nil && (rec.Kind != kindChat || rec.Group != gid)) {
			return nil, bad("url", "not a file uploaded to group %d", gid)
		}
		if err != nil {
			return nil, err
		}
		info, err := s.d.Backend.Stat(ctx, objstore.Object{App: app, Key: key})
		if errors.Is(err, objstore.ErrNotFound) {
			return nil, bad("url", "the file was not uploaded yet")
		}
		if err != nil {
			return nil, ErrStorage
		}
		gf.Size, gf.Object, gf.URL = info.Size, key, s.chatURL(key)
		if err := s.d.Store.MarkFilesUsed(ctx, app, key); err != nil {
			return nil, err
		}
	} else if u, err := url.Parse(f.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, bad("url", "must be an http(s) URL")
	}
	now := s.now().UnixMilli()
	gf.CreatedAt, gf.UpdatedAt = now, now
	if err := s.d.Store.AddGroupFile(ctx, app, gf); err != nil {
		return nil, err
	}
	return gf, nil
}

// groupRead checks that a may read gid's shared files.
func (s *Service) groupRead(ctx context.Context, app string, a Actor, gid int64) error {
	if gid <= 0 {
		return bad("group_id", "required: a positive group id")
	}
	return s.requireRole(ctx, app, a, gid, RoleMember, ErrNotMember)
}

// GroupFileList pages a group's shared files, newest first.
func (s *Service) GroupFileList(ctx context.Context, app string, a Actor, gid int64, page, size int) ([]*store.GroupFile, int64, error) {
	if err := s.groupRead(ctx, app, a, gid); err != nil {
		return nil, 0, err
	}
	if page < 1 {
		return nil, 0, bad("page_num", "must be at least 1")
	}
	if size < 1 || size > MaxGroupFilePage {
		return nil, 0, bad("page_size", "must be 1 to %d", MaxGroupFilePage)
	}
	return s.d.Store.GroupFiles(ctx, app, gid, (page-1)*size, size)
}

// GroupFileGet returns one shared file.
func (s *Service) GroupFileGet(ctx context.Context, app string, a Actor, gid, id int64) (*store.GroupFile, error) {
	if err := s.groupRead(ctx, app, a, gid); err != nil {
		return nil, err
	}
	return s.groupFile(ctx, app, gid, id)
}

func (s *Service) groupFile(ctx context.Context, app string, gid, id int64) (*store.GroupFile, error) {
	f, err := s.d.Store.GetGroupFile(ctx, app, gid, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrGroupFileNotFound
	}
	return f, err
}

// mayModify is the uploader / admin / owner rule.
func (s *Service) mayModify(ctx context.Context, app string, a Actor, f *store.GroupFile) error {
	if a.Admin || (a.UserID != 0 && f.Uploader == a.UserID) {
		return nil
	}
	role, _, err := s.d.Groups.Role(ctx, app, f.GroupID, a.UserID)
	if err != nil {
		return err
	}
	if role >= RoleAdmin {
		return nil
	}
	return ErrGroupFilePerm
}

// GroupFileRename renames one shared file.
func (s *Service) GroupFileRename(ctx context.Context, app string, a Actor, gid, id int64, name string) error {
	if err := s.groupRead(ctx, app, a, gid); err != nil {
		return err
	}
	if name == "" || len(name) > maxFileNameBytes || !utf8.ValidString(name) {
		return bad("name", "required: 1 to %d bytes of UTF-8", maxFileNameBytes)
	}
	f, err := s.groupFile(ctx, app, gid, id)
	if err != nil {
		return err
	}
	if err := s.mayModify(ctx, app, a, f); err != nil {
		return err
	}
	f.Name, f.UpdatedAt = name, s.now().UnixMilli()
	return s.d.Store.PutGroupFile(ctx, app, f)
}

// DeleteResult is the outcome for one file of GroupFileDelete.
type DeleteResult struct {
	FileID int64
	Err    error // nil: deleted
}

// GroupFileDelete deletes shared files one by one: each may succeed or
// fail (20022, 20023) on its own. The stored objects are scheduled for
// removal.
func (s *Service) GroupFileDelete(ctx context.Context, app string, a Actor, gid int64, ids []int64) ([]DeleteResult, error) {
	if err := s.groupRead(ctx, app, a, gid); err != nil {
		return nil, err
	}
	if len(ids) == 0 || len(ids) > MaxGroupFilePage {
		return nil, bad("file_list", "1 to %d file ids", MaxGroupFilePage)
	}
	out := make([]DeleteResult, 0, len(ids))
	var doomed []string
	for _, id := range ids {
		f, err := s.groupFile(ctx, app, gid, id)
		if err == nil {
			err = s.mayModify(ctx, app, a, f)
		}
		if err == nil {
			err = s.d.Store.DeleteGroupFile(ctx, app, gid, id)
		}
		if err == nil && f.Object != "" {
			doomed = append(doomed, f.Object)
		}
		if err != nil && !errors.Is(err, ErrGroupFileNotFound) && !errors.Is(err, ErrGroupFilePerm) {
			return nil, err
		}
		out = append(out, DeleteResult{FileID: id, Err: err})
	}
	if err := s.d.Store.ScheduleFileRemoval(ctx, app, doomed, s.now().UnixMilli()); err != nil {
		return nil, err
	}
	return out, nil
}
