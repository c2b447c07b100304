package admin

import (
	"errors"
	"math"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/chatgate/chatgate/files"
	"github.com/chatgate/chatgate/objstore"
	"github.com/chatgate/chatgate/store"
)

// The /file and /group/file operations: the Lanying wire format of the
// files rules (package files). docs/api/files.md is the reference.

// Codes of the file operations beyond the common ones.
const (
	CodeOSS               = 10009 // oss exception: the object store failed
	CodeNeedGroupAdmin    = 20012 // this operation needs group admin permission
	CodeGroupFileNotFound = 20022 // group shared file does not exist
	CodeGroupFilePerm     = 20023 // no permission to operate group shared file
	CodeFileNotFound      = objstore.CodeNoObject
)

type uploadData struct {
	DownloadURL  string            `json:"download_url" doc:"The URL the file is known by once uploaded: put it in the message attachment, the avatar or the group file. Fetching it needs the app's headers and redirects to the bytes."`
	OSSBodyParam map[string]string `json:"oss_body_param" doc:"Form fields of a POST upload (S3 backend), in any order before the file part named \"file\"; empty for PUT."`
	UploadMethod string            `json:"upload_method" doc:"PUT (local backend: the body is the file) or POST (S3 backend: multipart form)."`
	UploadURL    string            `json:"upload_url" doc:"Where to send the file; valid for files.upload_ttl."`
}

type groupFileData struct {
	CreatedAt int64  `json:"created_at"`
	FileID    int64  `json:"file_id"`
	GroupID   int64  `json:"group_id"`
	Name      string `json:"name"`
	Size      int64  `json:"size"`
	Type      string `json:"type"`
	UpdatedAt int64  `json:"updated_at"`
	Uploader  int64  `json:"uploader" doc:"0: uploaded with an admin token acting as the app"`
	URL       string `json:"url"`
}

type groupFileUploadBody struct {
	GroupID *int64  `json:"group_id" required:"true"`
	Name    *string `json:"name" required:"true" doc:"1 to 255 bytes"`
	Size    *int64  `json:"size" required:"true" doc:"Bytes; for a chatgate URL the stored size is used"`
	Type    string  `json:"type" doc:"File type, at most 64 bytes"`
	URL     *string `json:"url" required:"true" doc:"The download_url of an upload to this group (/file/upload/chat, to_type 2), or any http(s) URL"`
}

type groupFileDeleteBody struct {
	FileList []int64 `json:"file_list" required:"true" doc:"1 to 100 file ids"`
	GroupID  *int64  `json:"group_id" required:"true"`
}

type groupFileRenameBody struct {
	FileID  *int64  `json:"file_id" required:"true"`
	GroupID *int64  `json:"group_id" required:"true"`
	Name    *string `json:"name" required:"true" doc:"1 to 255 bytes"`
}

type fileDeleteResult struct {
	FileID int64  `json:"file_id"`
	Reason string `json:"reason" doc:"Why it failed: the 20022 or 20023 text; empty on success"`
	Result string `json:"result" doc:"success or fail"`
}

func (s *Server) fileRoutes() []*Route {
	if s.deps.Files == nil {
		return nil
	}
	f := &fileOps{s: s, svc: s.deps.Files}
	s.background = append(s.background, f.svc.Run)
	toParams := []Param{
		{Name: "to_id", Type: "integer", Required: true, Desc: "The user or group the file is sent to"},
		{Name: "to_type", Type: "int32", Desc: "1 user (default), 2 group"},
	}
	imageParams := []Param{
		{Name: "image_type", Type: "int32", Desc: "1 original (default), 2 thumbnail (made by the server, PNG/JPEG/GIF sources), 3 cover: not made by chatgate (10002)"},
		{Name: "w", Type: "number", Desc: "Thumbnail width bound, 1-1024 (default 200 when neither w nor h is given)"},
		{Name: "h", Type: "number", Desc: "Thumbnail height bound, 1-1024"},
		{Name: "thumbnail_strategy", Type: "int32", Desc: "1 or 2: chatgate always makes thumbnails itself"},
		{Name: "sdk_sign", Type: "string", Desc: "Accepted and ignored: the access-token authorises"},
		{Name: "store_token", Type: "string", Desc: "Accepted and ignored: the access-token authorises"},
	}
	dlErrs := []int{CodeFileNotFound, CodeNoPermission, CodeNotGroupMember, CodeOSS}
	groupErrs := []int{CodeGroupNotFound, CodeNotGroupMember}
	return []*Route{
		{
			Methods: []string{"GET"}, Path: "/file/upload/avatar/user", Group: "file", Access: AccessUser,
			Summary: "Get the URL of uploading the acting user's avatar",
			Result:  uploadData{}, Errors: []int{CodeOSS},
			Handle: func(r *Req) (any, error) {
				return grant(f.svc.UploadUserAvatar(r.Ctx, r.App.ID, actor(r), r.UserID))
			},
		},
		{
			Methods: []string{"GET"}, Path: "/file/upload/avatar/group", Group: "file", Access: AccessToken,
			Summary: "Get the URL of uploading a group avatar (the group's owner or admins, or an admin token)",
			Query:   []Param{{Name: "group_id", Type: "integer", Required: true, Desc: "The group"}},
			Result:  uploadData{}, Errors: append([]int{CodeNeedGroupAdmin, CodeOSS}, groupErrs...),
			Handle: f.uploadGroupAvatar,
		},
		{
			Methods: []string{"GET"}, Path: "/file/upload/chat", Group: "file", Access: AccessToken,
			Summary: "Get the URL of uploading a chat file into a conversation of the acting user",
			Query: append([]Param{{Name: "file_type", Type: "int32", Required: true,
				Desc: "100 file, 101 voice (amr), 102 picture, 103 video, 104 voice (mp3); 200-203 the same as group shared files (to_type 2)"}}, toParams...),
			Result: uploadData{}, Errors: append([]int{CodeUserNotFound, CodeOSS}, groupErrs...),
			Handle: f.uploadChat,
		},
		{
			Methods: []string{"GET"}, Path: "/file/upload/forward", Group: "file", Access: AccessToken,
			Summary: "Copy a chat file the acting user may read into another conversation; answers the copy's download URL",
			Query:   append([]Param{{Name: "file_sign", Type: "string", Required: true, Desc: "The file_sign of the file's download URL"}}, toParams...),
			Result:  "", Errors: append(append([]int{CodeUserNotFound}, dlErrs...), CodeGroupNotFound),
			Handle: f.forward,
		},
		{
			Methods: []string{"GET"}, Path: "/file/download/avatar", Group: "file", Access: AccessToken,
			Summary: "Download an avatar: HTTP 302 to a short-lived URL of the bytes (data holds the same URL)",
			Query:   append([]Param{{Name: "object_name", Type: "string", Required: true, Desc: "From the avatar's download URL"}}, imageParams...),
			Result:  "", Errors: dlErrs,
			Handle: func(r *Req) (any, error) { return f.download(r, "object_name", true) },
		},
		{
			Methods: []string{"GET"}, Path: "/file/download/chat", Group: "file", Access: AccessToken,
			Summary: "Download a chat file (members of its conversation, admin tokens): HTTP 302 to a short-lived URL of the bytes (data holds the same URL)",
			Query: append([]Param{
				{Name: "file_sign", Type: "string", Required: true, Desc: "From the file's download URL"},
				{Name: "format", Type: "string", Desc: "amr or mp3: accepted, but chatgate converts nothing and returns the file as uploaded"},
				{Name: "source", Type: "string", Desc: "Accepted and ignored"},
			}, imageParams...),
			Result: "", Errors: dlErrs,
			Handle: func(r *Req) (any, error) { return f.download(r, "file_sign", false) },
		},
		{
			Methods: []string{"POST"}, Path: "/group/file/upload", Group: "group", Access: AccessToken,
			Summary: "Add a shared file to a group (members)",
			Body:    groupFileUploadBody{}, Result: groupFileData{}, Errors: append([]int{CodeOSS}, groupErrs...),
			Handle: f.groupUpload,
		},
		{
			Methods: []string{"GET"}, Path: "/group/file/list", Group: "group", Access: AccessToken,
			Summary: "Get the list of a group's shared files, newest first (members)",
			Query: []Param{
				{Name: "group_id", Type: "integer", Required: true, Desc: "The group"},
				{Name: "page_num", Type: "int32", Desc: "chatgate: page number from 1 (default 1)"},
				{Name: "page_size", Type: "int32", Desc: "chatgate: 1 to 100 (default 100)"},
			},
			Result: []groupFileData{}, Errors: groupErrs,
			Handle: f.groupList,
		},
		{
			Methods: []string{"GET"}, Path: "/group/file", Group: "group", Access: AccessToken,
			Summary: "Get one shared file of a group (members); its url downloads through /file/download/chat",
			Query: []Param{
				{Name: "file_id", Type: "integer", Required: true, Desc: "The file"},
				{Name: "group_id", Type: "integer", Required: true, Desc: "The group"},
			},
			Result: groupFileData{}, Errors: append([]int{CodeGroupFileNotFound}, groupErrs...),
			Handle: f.groupGet,
		},
		{
			Methods: []string{"POST", "PUT"}, Path: "/group/file/update_name", Group: "group", Access: AccessToken,
			Summary: "Rename a shared file (its uploader, the group's admins and owner)",
			Body:    groupFileRenameBody{}, Errors: append([]int{CodeGroupFileNotFound, CodeGroupFilePerm}, groupErrs...),
			Handle: f.groupRename,
		},
		{
			Methods: []string{"POST", "DELETE"}, Path: "/group/file/delete", Group: "group", Access: AccessToken,
			Summary: "Delete shared files (each: its uploader, the group's admins and owner); the stored objects are removed by the cleaner",
			Body:    groupFileDeleteBody{}, Result: []fileDeleteResult{}, Errors: groupErrs,
			Handle: f.groupDelete,
		},
	}
}

type fileOps struct {
	s   *Server
	svc *files.Service
}

func actor(r *Req) files.Actor { return files.Actor{Admin: r.Admin, UserID: r.UserID} }

func grant(g *files.Grant, err error) (any, error) {
	if err != nil {
		return nil, fileErr(err)
	}
	fields := g.Upload.Fields
	if fields == nil {
		fields = map[string]string{}
	}
	return uploadData{DownloadURL: g.DownloadURL, OSSBodyParam: fields, UploadMethod: g.Upload.Method, UploadURL: g.Upload.URL}, nil
}

// fileErr maps the files rules' errors to Lanying's codes.
func fileErr(err error) error {
	var br *files.BadRequest
	switch {
	case errors.As(err, &br):
		return BadParam(br.Param, "%s", br.Msg)
	case errors.Is(err, files.ErrNoPermission):
		return Errf(CodeNoPermission, "no permission for this file")
	case errors.Is(err, files.ErrGroupNotFound):
		return Errf(CodeGroupNotFound, "group does not exist")
	case errors.Is(err, files.ErrNotMember):
		return Errf(CodeNotGroupMember, "the user is not a group member")
	case errors.Is(err, files.ErrNeedGroupAdmin):
		return Errf(CodeNeedGroupAdmin, "this operation needs group admin permission")
	case errors.Is(err, files.ErrUserNotFound):
		return Errf(CodeUserNotFound, "user does not exist")
	case errors.Is(err, files.ErrFileNotFound):
		return Errf(CodeFileNotFound, "file does not exist")
	case errors.Is(err, files.ErrGroupFileNotFound):
		return Errf(CodeGroupFileNotFound, "group shared file does not exist")
	case errors.Is(err, files.ErrGroupFilePerm):
		return Errf(CodeGroupFilePerm, "no permission to operate the group shared file")
	case errors.Is(err, files.ErrStorage):
		return Errf(CodeOSS, "oss exception: the object store failed; retry later")
	}
	return err
}

func (f *fileOps) uploadGroupAvatar(r *Req) (any, error) {
	gid, err := r.QueryInt64("group_id", 0)
	if err != nil {
		return nil, err
	}
	return grant(f.svc.UploadGroupAvatar(r.Ctx, r.App.ID, actor(r), gid))
}

func (f *fileOps) uploadChat(r *Req) (any, error) {
	ft, err := r.QueryInt32("file_type", 0)
	if err != nil {
		return nil, err
	}
	to, toType, err := target(r)
	if err != nil {
		return nil, err
	}
	return grant(f.svc.UploadChat(r.Ctx, r.App.ID, actor(r), ft, to, toType))
}

func target(r *Req) (int64, int32, error) {
	to, err := r.QueryInt64("to_id", 0)
	if err != nil {
		return 0, 0, err
	}
	toType, err := r.QueryInt32("to_type", files.ToUser)
	return to, toType, err
}

func (f *fileOps) forward(r *Req) (any, error) {
	sign, err := r.QueryString("file_sign", "")
	if err != nil {
		return nil, err
	}
	to, toType, err := target(r)
	if err != nil {
		return nil, err
	}
	u, err := f.svc.Forward(r.Ctx, r.App.ID, actor(r), sign, to, toType)
	if err != nil {
		return nil, fileErr(err)
	}
	return u, nil
}

// queryFloat reads a declared "number" query parameter; def when absent.
func queryFloat(r *Req, name string, def float64) (float64, error) {
	v, ok, err := r.query(name, "number")
	if err != nil || !ok {
		return def, err
	}
	x, perr := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if perr != nil || math.IsNaN(x) || math.IsInf(x, 0) || x < 0 {
		return 0, BadParam(name, "must be a non-negative number, got %q", clip(v))
	}
	return x, nil
}

func (f *fileOps) download(r *Req, keyParam string, avatar bool) (any, error) {
	key, err := r.QueryString(keyParam, "")
	if err != nil {
		return nil, err
	}
	var o files.DownloadOptions
	if o.ImageType, err = r.QueryInt32("image_type", files.ImageOriginal); err != nil {
		return nil, err
	}
	if o.W, err = queryFloat(r, "w", 0); err != nil {
		return nil, err
	}
	if o.H, err = queryFloat(r, "h", 0); err != nil {
		return nil, err
	}
	if !avatar {
		if o.Format, err = r.QueryString("format", ""); err != nil {
			return nil, err
		}
	}
	u, err := f.svc.Download(r.Ctx, r.App.ID, actor(r), key, avatar, o)
	if err != nil {
		return nil, fileErr(err)
	}
	r.HTTP.Response.Header.Set("Location", u)
	r.HTTP.Response.Header.Set("Cache-Control", "no-store")
	r.HTTP.SetStatusCode(fasthttp.StatusFound)
	return u, nil
}

func groupFileOf(g *store.GroupFile) groupFileData {
	return groupFileData{CreatedAt: g.CreatedAt, FileID: g.FileID, GroupID: g.GroupID, Name: g.Name, Size: g.Size,
		Type: g.Type, UpdatedAt: g.UpdatedAt, Uploader: g.Uploader, URL: g.URL}
}

func (f *fileOps) groupUpload(r *Req) (any, error) {
	var b groupFileUploadBody
	if err := r.Bind(&b); err != nil {
		return nil, err
	}
	switch {
	case b.GroupID == nil:
		return nil, BadParam("group_id", "required")
	case b.Name == nil:
		return nil, BadParam("name", "required")
	case b.Size == nil:
		return nil, BadParam("size", "required")
	case b.URL == nil:
		return nil, BadParam("url", "required")
	}
	g, err := f.svc.GroupFileUpload(r.Ctx, r.App.ID, actor(r), *b.GroupID,
		files.NewGroupFile{Name: *b.Name, Size: *b.Size, Type: b.Type, URL: *b.URL})
	if err != nil {
		return nil, fileErr(err)
	}
	return groupFileOf(g), nil
}

func (f *fileOps) groupList(r *Req) (any, error) {
	gid, err := r.QueryInt64("group_id", 0)
	if err != nil {
		return nil, err
	}
	page, err := r.QueryInt32("page_num", 1)
	if err != nil {
		return nil, err
	}
	size, err := r.QueryInt32("page_size", files.MaxGroupFilePage)
	if err != nil {
		return nil, err
	}
	list, _, err := f.svc.GroupFileList(r.Ctx, r.App.ID, actor(r), gid, int(page), int(size))
	if err != nil {
		return nil, fileErr(err)
	}
	out := make([]groupFileData, len(list))
	for i, g := range list {
		out[i] = groupFileOf(g)
	}
	return out, nil
}

func (f *fileOps) groupGet(r *Req) (any, error) {
	gid, err := r.QueryInt64("group_id", 0)
	if err != nil {
		return nil, err
	}
	id, err := r.QueryInt64("file_id", 0)
	if err != nil {
		return nil, err
	}
	g, err := f.svc.GroupFileGet(r.Ctx, r.App.ID, actor(r), gid, id)
	if err != nil {
		return nil, fileErr(err)
	}
	return groupFileOf(g), nil
}

func (f *fileOps) groupRename(r *Req) (any, error) {
	var b groupFileRenameBody
	if err := r.Bind(&b); err != nil {
		return nil, err
	}
	switch {
	case b.GroupID == nil:
		return nil, BadParam("group_id", "required")
	case b.FileID == nil:
		return nil, BadParam("file_id", "required")
	case b.Name == nil:
		return nil, BadParam("name", "required")
	}
	if err := f.svc.GroupFileRename(r.Ctx, r.App.ID, actor(r), *b.GroupID, *b.FileID, *b.Name); err != nil {
		return nil, fileErr(err)
	}
	return true, nil
}

func (f *fileOps) groupDelete(r *Req) (any, error) {
	var b groupFileDeleteBody
	if err := r.Bind(&b); err != nil {
		return nil, err
	}
	if b.GroupID == nil {
		return nil, BadParam("group_id", "required")
	}
	res, err := f.svc.GroupFileDelete(r.Ctx, r.App.ID, actor(r), *b.GroupID, b.FileList)
	if err != nil {
		return nil, fileErr(err)
	}
	out := make([]fileDeleteResult, len(res))
	for i, x := range res {
		out[i] = fileDeleteResult{FileID: x.FileID, Result: "success"}
		if x.Err != nil {
			e, _ := asError(fileErr(x.Err))
			out[i].Result, out[i].Reason = "fail", strconv.Itoa(e.Code)+" "+e.Msg
		}
	}
	return out, nil
}
