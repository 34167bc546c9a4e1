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
	mux.HandleFunc("GET /subjects", s.handle(s.subjects))
	mux.HandleFunc("GET /subjects/{subject}/versions", s.handle(s.versions))
	mux.HandleFunc("POST /subjects/{subject}/versions", s.register)
	mux.HandleFunc("GET /subjects/{subject}/versions/{version}", s.handle(s.version))
	mux.HandleFunc("GET /subjects/{subject}/versions/{version}/schema", s.handle(s.versionSchema))
	mux.HandleFunc("GET /subjects/{subject}/versions/{version}/referencedby", s.handle(s.referencedBy))
	mux.HandleFunc("POST /subjects/{subject}", s.lookup)
	mux.HandleFunc("DELETE /subjects/{subject}", s.handle(s.deleteSubject))
	mux.HandleFunc("DELETE /subjects/{subject}/versions/{version}", s.handle(s.deleteVersion))
	mux.HandleFunc("GET /schemas/ids/{id}", s.handle(s.schema))
	mux.HandleFunc("GET /schemas/ids/{id}/schema", s.handle(s.schemaText))
	mux.HandleFunc("GET /schemas/ids/{id}/versions", s.handle(s.idVersions))
	mux.HandleFunc("GET /schemas/ids/{id}/subjects", s.handle(s.idSubjects))
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

// handle adapts an operation to a handler: its answer is sent as JSON (a
// rawSchema as the schema text itself), its error in Confluent's shape.
func (s *Server) handle(op func(r *http.Request) (any, *Error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, e := op(r)
		switch {
		case e != nil:
			s.fail(w, e)
		case v == nil: // op answered (a bad request body)
		default:
			if raw, ok := v.(rawSchema); ok {
				w.Header().Set("Content-Type", contentType)
				io.WriteString(w, string(raw))
				return
			}
			s.reply(w, v)
		}
	}
}

// rawSchema is an answer sent as the schema text, not JSON.
type rawSchema string

// pathVersion parses the {version} path element.
func pathVersion(r *http.Request) (int, *Error) { return ParseVersion(r.PathValue("version")) }

// pathID parses the {id} path element.
func pathID(r *http.Request) (int, *Error) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil || id < 1 {
		return 0, errf(codeSchemaNotFound, "Schema %s not found", r.PathValue("id"))
	}
	return id, nil
}

func (s *Server) subjects(r *http.Request) (any, *Error) {
	return s.reg.Subjects(r.URL.Query().Get("subjectPrefix"), flag(r, "deleted")), nil
}

func (s *Server) versions(r *http.Request) (any, *Error) {
	return s.reg.Versions(r.PathValue("subject"), flag(r, "deleted"))
}

// schemaBody decodes a request carrying a schema; nil, nil when the
// failure was already answered.
func (s *Server) schemaBody(w http.ResponseWriter, r *http.Request) *registerRequest {
	req, ok := s.schemaRequest(w, r)
	if !ok {
		return nil
	}
	return &req
}

func (s *Server) register(w http.ResponseWriter, r *http.Request) {
	s.handle(func(r *http.Request) (any, *Error) {
		req := s.schemaBody(w, r)
		if req == nil {
			return nil, nil
		}
		id, e := s.reg.Register(r.Context(), r.PathValue("subject"), req.SchemaType, req.Schema, req.References)
		if e != nil {
			return nil, e
		}
		return map[string]int{"id": id}, nil
	})(w, r)
}

func (s *Server) lookup(w http.ResponseWriter, r *http.Request) {
	s.handle(func(r *http.Request) (any, *Error) {
		req := s.schemaBody(w, r)
		if req == nil {
			return nil, nil
		}
		return s.reg.Lookup(r.PathValue("subject"), req.SchemaType, req.Schema, req.References, flag(r, "deleted"))
	})(w, r)
}

func (s *Server) version(r *http.Request) (any, *Error) {
	v, e := pathVersion(r)
	if e != nil {
		return nil, e
	}
	return s.reg.Version(r.PathValue("subject"), v, flag(r, "deleted"))
}

func (s *Server) versionSchema(r *http.Request) (any, *Error) {
	info, e := s.version(r)
	if e != nil {
		return nil, e
	}
	return rawSchema(info.(SchemaInfo).Schema), nil
}

func (s *Server) referencedBy(r *http.Request) (any, *Error) {
	v, e := pathVersion(r)
	if e != nil {
		return nil, e
	}
	return s.reg.ReferencedBy(r.PathValue("subject"), v)
}

func (s *Server) deleteSubject(r *http.Request) (any, *Error) {
	return s.reg.DeleteSubject(r.Context(), r.PathValue("subject"), flag(r, "permanent"))
}

func (s *Server) deleteVersion(r *http.Request) (any, *Error) {
	v, e := pathVersion(r)
	if e != nil {
		return nil, e
	}
	return s.reg.DeleteVersion(r.Context(), r.PathValue("subject"), v, flag(r, "permanent"))
}

func (s *Server) schemaByID(r *http.Request) (SchemaInfo, *Error) {
	id, e := pathID(r)
	if e != nil {
		return SchemaInfo{}, e
	}
	return s.reg.Schema(id)
}

func (s *Server) schema(r *http.Request) (any, *Error) {
	info, e := s.schemaByID(r)
	if e != nil {
		return nil, e
	}
	return struct {
		SchemaType string      `json:"schemaType,omitempty"`
		Schema     string      `json:"schema"`
		References []Reference `json:"references,omitempty"`
	}{info.SchemaType, info.Schema, info.References}, nil
}

func (s *Server) schemaText(r *http.Request) (any, *Error) {
	info, e := s.schemaByID(r)
	if e != nil {
		return nil, e
	}
	return rawSchema(info.Schema), nil
}

func (s *Server) idVersions(r *http.Request) (any, *Error) {
	id, e := pathID(r)
	if e != nil {
		return nil, e
	}
	return s.reg.IDVersions(id, flag(r, "deleted"))
}

func (s *Server) idSubjects(r *http.Request) (any, *Error) {
	id, e := pathID(r)
	if e != nil {
		return nil, e
	}
	vs, e := s.reg.IDVersions(id, flag(r, "deleted"))
	if e != nil {
		return nil, e
	}
	out := []string{}
	for _, v := range vs {
		if len(out) == 0 || out[len(out)-1] != v.Subject {
			out = append(out, v.Subject)
		}
	}
	return out, nil
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
		var e *Error
		if v, e = pathVersion(r); e != nil {
			s.fail(w, e)
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
