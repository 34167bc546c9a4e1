package broker

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TestShareWriteErrorCode: a failed state write answers acknowledgements
// as Kafka's fetchPersisterError maps the persister's errors.
func TestShareWriteErrorCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want *kerr.Error
	}{
		{fmt.Errorf("write share state: %w", kerr.FencedStateEpoch), kerr.FencedStateEpoch},
		{fmt.Errorf("write share state: %w", kerr.FencedLeaderEpoch), kerr.NotLeaderForPartition},
		{fmt.Errorf("write share state: %w", kerr.GroupIDNotFound), kerr.InvalidRequest},
		{fmt.Errorf("write share state: %w", kerr.NotEnoughReplicas), kerr.UnknownServerError},
		{fmt.Errorf("share coordinator of k: %w (last: %w)", context.DeadlineExceeded, kerr.CoordinatorNotAvailable), kerr.CoordinatorNotAvailable},
		{fmt.Errorf("share coordinator of k: %w (last: %w)", context.DeadlineExceeded, errors.New("dial tcp: connection refused")), kerr.CoordinatorNotAvailable},
	} {
		if got := shareWriteErrorCode(tc.err); got != tc.want.Code {
			t.Errorf("%v: %v, want %v", tc.err, kerr.ErrorForCode(got), tc.want)
		}
	}
}
