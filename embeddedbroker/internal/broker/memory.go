package broker

import (
	"sync"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/logstore"
)

// MemoryStore is the "disk" of a node kept in memory: the logs of its
// partitions by name. A node started again with the same store finds its
// logs: all of them after a graceful stop, what was "fsynced" after a kill
// (logstore's Crash forgets the rest).
type MemoryStore struct {
	mu   sync.Mutex
	logs map[string]logstore.Log
}

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore { return &MemoryStore{logs: map[string]logstore.Log{}} }

func (m *MemoryStore) open(name string, cfg logstore.Config) logstore.Log {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l, ok := m.logs[name]; ok {
		l.Reconfigure(cfg)
		return l
	}
	l := logstore.NewMemory(cfg)
	m.logs[name] = l
	return l
}

func (m *MemoryStore) remove(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l, ok := m.logs[name]; ok {
		l.Delete()
		delete(m.logs, name)
	}
}
