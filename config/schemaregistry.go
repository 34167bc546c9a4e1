package config

import "strings"

// Subject name strategies accepted by
// kafka.schema-registry.subject-name-strategy.
const (
	// SubjectNameTopic names subjects <topic>-value and <topic>-key
	// (Confluent's TopicNameStrategy).
	SubjectNameTopic = "topic"
	// SubjectNameRecord names subjects by the record's full name
	// (Confluent's RecordNameStrategy).
	SubjectNameRecord = "record"
	// SubjectNameTopicRecord names subjects <topic>-<record full name>
	// (Confluent's TopicRecordNameStrategy).
	SubjectNameTopicRecord = "topic-record"
)

// SchemaRegistry is kafka.schema-registry: the schema registry the serde
// package's registry serializers (Avro, Protobuf, JSON Schema) use, with
// the settings of Confluent's serializers. serde.NewSRClient builds the
// registry client from it and serde.SROptionsFromConfig the serializer
// options; under fx, kafkaboot.Module provides both, configured.
//
//	kafka:
//	  schema-registry:
//	    url: http://registry-1:8081,http://registry-2:8081
//	    basic-auth-user-info: ${REGISTRY_USER}:${REGISTRY_PASSWORD}
//	    auto-register-schemas: false
//	    use-latest-version: true
type SchemaRegistry struct {
	// URL (kafka.schema-registry.url, Confluent's schema.registry.url)
	// lists the registry's base URLs, http:// or https://; requests go
	// to the first and move on to the next on connection errors. A
	// comma-separated string is accepted. Empty (the default): no
	// registry configured.
	URL []string `koanf:"url" validate:"dive,http_url"`
	// BasicAuthUserInfo (kafka.schema-registry.basic-auth-user-info,
	// Confluent's basic.auth.user.info) is "user:password" for HTTP basic
	// authentication; empty means none. The password is what follows the
	// first ':'.
	BasicAuthUserInfo string `koanf:"basic-auth-user-info" validate:"omitempty,contains=:"`
	// AutoRegisterSchemas (kafka.schema-registry.auto-register-schemas,
	// Confluent's auto.register.schemas) makes serializers register the
	// schema of the values they write. Off, schemas must be registered
	// beforehand (serializers look their ids up). Default true.
	AutoRegisterSchemas bool `koanf:"auto-register-schemas"`
	// UseLatestVersion (kafka.schema-registry.use-latest-version,
	// Confluent's use.latest.version) makes serializers write with the
	// latest version of the subject instead of the value's own schema;
	// as in Confluent's serializers, only with auto-register-schemas
	// false. Default false.
	UseLatestVersion bool `koanf:"use-latest-version"`
	// SubjectNameStrategy (kafka.schema-registry.subject-name-strategy,
	// Confluent's value.subject.name.strategy and
	// key.subject.name.strategy) is topic (<topic>-value and <topic>-key,
	// the default), record (the record's full name: Avro namespace.name,
	// Protobuf message full name, JSON Schema title) or topic-record
	// (<topic>-<record full name>).
	SubjectNameStrategy string `koanf:"subject-name-strategy" validate:"oneof=topic record topic-record"`
	// CacheCapacity (kafka.schema-registry.cache-capacity, Confluent's
	// max.schemas.per.subject) bounds each cache of a registry serializer
	// (schema ids by subject and schema, schemas by id); 0 means
	// unbounded. Default 1000.
	CacheCapacity int `koanf:"cache-capacity" validate:"gte=0"`
}

// BasicAuth splits basic-auth-user-info into user and password; ok is
// false when it is empty.
func (s *SchemaRegistry) BasicAuth() (user, password string, ok bool) {
	if s.BasicAuthUserInfo == "" {
		return "", "", false
	}
	user, password, _ = strings.Cut(s.BasicAuthUserInfo, ":")
	return user, password, true
}
