package schemaregistry

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"
)

// MaxRequestBytes bounds a request body: a schema of up to 16 MiB, more
// than Confluent's practical limits.
const MaxRequestBytes = 16 << 20

// contentType is Confluent's media type, which clients send and accept.
const contentType = "application/vnd.schemaregistry.v1+json"

// Server serves the registry's REST API, Confluent's subset that clients
// use.
type Server struct {
	reg *Registry
	log *slog.Logger
	ln  net.Listener
	srv *http.Server
}

// Serve starts serving reg on ln.
func Serve(ln net.Listener, reg *Registry, log *slog.Logger) *Server {
	s := &Server{reg: reg, log: log, ln: ln}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) { s.reply(w, map[string]any{}) })
	mux.HandleFunc("GET /subjects", s.subjects)
	mux.HandleFunc("GET /subjects/{subject}/versions", s.versions)
	mux.HandleFunc("POST /subjects/{subject}/versions", s.register)
	mux.HandleFunc("GET /subjects/{subject}/versions/{version}", s.version)
	mux.HandleFunc("GET /subjects/{subject}/versions/{version}/schema", s.versionSchema)
	mux.HandleFunc("GET /subjects/{subject}/versions/{version}/referencedby", s.referencedBy)
	mux.HandleFunc("POST /subjects/{subject}", s.lookup)
	mux.HandleFunc("DELETE /subjects/{subject}", s.deleteSubject)
	mux.HandleFunc("DELETE /subjects/{subject}/versions/{version}", s.deleteVersion)
	mux.HandleFunc("GET /schemas/ids/{id}", s.schema)
	mux.HandleFunc("GET /schemas/ids/{id}/schema", s.schemaText)
	mux.HandleFunc("GET /schemas/ids/{id}/versions", s.idVersions)
	mux.HandleFunc("GET /schemas/ids/{id}/subjects", s.idSubjects)
	mux.HandleFunc("GET /schemas/types", func(w http.ResponseWriter, _ *http.Request) {
		s.reply(w, []string{"JSON", "PROTOBUF", "AVRO"})
	})
	mux.HandleFunc("GET /config", s.getConfig)
	mux.HandleFunc("PUT /config", s.putConfig)
	mux.HandleFunc("GET /config/{subject}", s.getConfig)
	mux.HandleFunc("PUT /config/{subject}", s.putConfig)
	mux.HandleFunc("DELETE /config/{subject}", s.deleteConfig)
	mux.HandleFunc("POST /compatibility/subjects/{subject}/versions/{version}", s.compatibility)
	mux.HandleFunc("POST /compatibility/subjects/{subject}/versions", s.compatibility)
	mux.HandleFunc("GET /mode", func(w http.ResponseWriter, _ *http.Request) { s.reply(w, map[string]string{"mode": "READWRITE"}) })
	mux.HandleFunc("GET /mode/{subject}", func(w http.ResponseWriter, _ *http.Request) { s.reply(w, map[string]string{"mode": "READWRITE"}) })
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute}
	go func() {
		if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("schema registry stopped", "err", err)
		}
	}()
	return s
}

// Addr is the address served.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops serving.
func (s *Server) Close(ctx context.Context) error { return s.srv.Shutdown(ctx) }

func (s *Server) reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", contentType)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) fail(w http.ResponseWriter, e *Error) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(e.Status())
	_ = json.NewEncoder(w).Encode(e)
}

func flag(r *http.Request, name string) bool {
	b, _ := strconv.ParseBool(r.URL.Query().Get(name))
	return b
}

// registerRequest is the body of POST /subjects/{s}/versions and friends.
type registerRequest struct {
	Schema     string      `json:"schema"`
	SchemaType string      `json:"schemaType"`
	References []Reference `json:"references"`
}

// body decodes a JSON request body.
func (s *Server) body(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxRequestBytes))
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.fail(w, errf(http.StatusRequestEntityTooLarge, "Request body larger than %d bytes", MaxRequestBytes))
			return false
		}
		if errors.Is(err, io.EOF) {
			err = errors.New("empty body")
		}
		s.fail(w, errf(42201, "Invalid schema: the request body is not a JSON object of the expected shape: %v", err))
		return false
	}
	return true
}

func (s *Server) schemaRequest(w http.ResponseWriter, r *http.Request) (registerRequest, bool) {
	var req registerRequest
	if !s.body(w, r, &req) {
		return req, false
	}
	if req.Schema == "" {
		s.fail(w, errf(codeInvalidSchema, "Invalid schema: empty schema"))
		return req, false
	}
	return req, true
}

func (s *Server) subjects(w http.ResponseWriter, r *http.Request) {
	s.reply(w, s.reg.Subjects(r.URL.Query().Get("subjectPrefix"), flag(r, "deleted")))
}

func (s *Server) versions(w http.ResponseWriter, r *http.Request) {
	vs, e := s.reg.Versions(r.PathValue("subject"), flag(r, "deleted"))
	if e != nil {
		s.fail(w, e)
		return
	}
	s.reply(w, vs)
}

func (s *Server) register(w http.ResponseWriter, r *http.Request) {
	req, ok := s.schemaRequest(w, r)
	if !ok {
		return
	}
	id, e := s.reg.Register(r.Context(), r.PathValue("subject"), req.SchemaType, req.Schema, req.References)
	if e != nil {
		s.fail(w, e)
		return
	}
	s.reply(w, map[string]int{"id": id})
}

func (s *Server) lookup(w http.ResponseWriter, r *http.Request) {
	req, ok := s.schemaRequest(w, r)
	if !ok {
		return
	}
	info, e := s.reg.Lookup(r.PathValue("subject"), req.SchemaType, req.Schema, req.References, flag(r, "deleted"))
	if e != nil {
		s.fail(w, e)
		return
	}
	s.reply(w, info)
}

func (s *Server) pathVersion(w http.ResponseWriter, r *http.Request) (int, bool) {
	v, e := ParseVersion(r.PathValue("version"))
	if e != nil {
		s.fail(w, e)
		return 0, false
	}
	return v, true
}

func (s *Server) version(w http.ResponseWriter, r *http.Request) {
	v, ok := s.pathVersion(w, r)
	if !ok {
		return
	}
	info, e := s.reg.Version(r.PathValue("subject"), v, flag(r, "deleted"))
	if e != nil {
		s.fail(w, e)
		return
	}
	s.reply(w, info)
}

func (s *Server) versionSchema(w http.ResponseWriter, r *http.Request) {
	v, ok := s.pathVersion(w, r)
	if !ok {
		return
	}
	info, e := s.reg.Version(r.PathValue("subject"), v, flag(r, "deleted"))
	if e != nil {
		s.fail(w, e)
		return
	}
	w.Header().Set("Content-Type", contentType)
	io.WriteString(w, info.Schema)
}

func (s *Server) referencedBy(w http.ResponseWriter, r *http.Request) {
	v, ok := s.pathVersion(w, r)
	if !ok {
		return
	}
	ids, e := s.reg.ReferencedBy(r.PathValue("subject"), v)
	if e != nil {
		s.fail(w, e)
		return
	}
	s.reply(w, ids)
}

func (s *Server) deleteSubject(w http.ResponseWriter, r *http.Request) {
	vs, e := s.reg.DeleteSubject(r.Context(), r.PathValue("subject"), flag(r, "permanent"))
	if e != nil {
		s.fail(w, e)
		return
	}
	s.reply(w, vs)
}

func (s *Server) deleteVersion(w http.ResponseWriter, r *http.Request) {
	v, ok := s.pathVersion(w, r)
	if !ok {
		return
	}
	n, e := s.reg.DeleteVersion(r.Context(), r.PathValue("subject"), v, flag(r, "permanent"))
	if e != nil {
		s.fail(w, e)
		return
	}
	s.reply(w, n)
}

func (s *Server) pathID(w http.ResponseWriter, r *http.Request) (int, bool) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil || id < 1 {
		s.fail(w, errf(codeSchemaNotFound, "Schema %s not found", r.PathValue("id")))
		return 0, false
	}
	return id, true
}

func (s *Server) schema(w http.ResponseWriter, r *http.Request) {
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	info, e := s.reg.Schema(id)
	if e != nil {
		s.fail(w, e)
		return
	}
	s.reply(w, struct {
		SchemaType string      `json:"schemaType,omitempty"`
		Schema     string      `json:"schema"`
		References []Reference `json:"references,omitempty"`
	}{info.SchemaType, info.Schema, info.References})
}

func (s *Server) schemaText(w http.ResponseWriter, r *http.Request) {
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	info, e := s.reg.Schema(id)
	if e != nil {
		s.fail(w, e)
		return
	}
	w.Header().Set("Content-Type", contentType)
	io.WriteString(w, info.Schema)
}

func (s *Server) idVersions(w http.ResponseWriter, r *http.Request) {
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	vs, e := s.reg.IDVersions(id, flag(r, "deleted"))
	if e != nil {
		s.fail(w, e)
		return
	}
	s.reply(w, vs)
}

func (s *Server) idSubjects(w http.ResponseWriter, r *http.Request) {
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	vs, e := s.reg.IDVersions(id, flag(r, "deleted"))
	if e != nil {
		s.fail(w, e)
		return
	}
	out := []string{}
	for _, v := range vs {
		if len(out) == 0 || out[len(out)-1] != v.Subject {
			out = append(out, v.Subject)
		}
	}
	s.reply(w, out)
}

func (s *Server) getConfig(w http.ResponseWriter, r *http.Request) {
	l, e := s.reg.Config(r.PathValue("subject"), flag(r, "defaultToGlobal"))
	if e != nil {
		s.fail(w, e)
		return
	}
	s.reply(w, map[string]string{"compatibilityLevel": l})
}

func (s *Server) putConfig(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Compatibility string `json:"compatibility"`
	}
	if !s.body(w, r, &req) {
		return
	}
	l, e := s.reg.SetConfig(r.Context(), r.PathValue("subject"), req.Compatibility)
	if e != nil {
		s.fail(w, e)
		return
	}
	s.reply(w, map[string]string{"compatibility": l})
}

func (s *Server) deleteConfig(w http.ResponseWriter, r *http.Request) {
	l, e := s.reg.DeleteConfig(r.Context(), r.PathValue("subject"))
	if e != nil {
		s.fail(w, e)
		return
	}
	s.reply(w, map[string]string{"compatibilityLevel": l})
}

func (s *Server) compatibility(w http.ResponseWriter, r *http.Request) {
	v := -1
	if r.PathValue("version") != "" {
		var ok bool
		if v, ok = s.pathVersion(w, r); !ok {
			return
		}
	}
	req, ok := s.schemaRequest(w, r)
	if !ok {
		return
	}
	msgs, e := s.reg.TestCompatibility(r.PathValue("subject"), v, req.SchemaType, req.Schema, req.References)
	if e != nil {
		s.fail(w, e)
		return
	}
	out := map[string]any{"is_compatible": len(msgs) == 0}
	if flag(r, "verbose") {
		if msgs == nil {
			msgs = []string{}
		}
		out["messages"] = msgs
	}
	s.reply(w, out)
}
