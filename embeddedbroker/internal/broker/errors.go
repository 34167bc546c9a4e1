package broker

import (
	"errors"
	"io/fs"
	"syscall"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/batch"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/configs"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/controller"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/logstore"
	"github.com/twmb/franz-go/pkg/kerr"
)

// errCode maps an internal error to the Kafka error a client gets.
func errCode(err error) int16 {
	var e *kerr.Error
	switch {
	case err == nil:
		return 0
	case errors.As(err, &e):
		return e.Code
	case errors.Is(err, errNotLeader):
		return kerr.NotLeaderForPartition.Code
	case errors.Is(err, errMessageTooLarge):
		return kerr.MessageTooLarge.Code
	case errors.Is(err, errOutOfOrderSequence):
		return kerr.OutOfOrderSequenceNumber.Code
	case errors.Is(err, errInvalidEpoch):
		return kerr.InvalidProducerEpoch.Code
	case errors.Is(err, errTransactional):
		return kerr.InvalidTxnState.Code
	case errors.Is(err, batch.ErrUnsupportedMagic):
		return kerr.UnsupportedForMessageFormat.Code
	case errors.Is(err, batch.ErrInvalidRecord):
		return kerr.InvalidRecord.Code
	case errors.Is(err, batch.ErrInvalidTimestamp):
		return kerr.InvalidTimestamp.Code
	case errors.Is(err, batch.ErrCorrupt), errors.Is(err, batch.ErrShort):
		return kerr.CorruptMessage.Code
	case errors.Is(err, logstore.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	case errors.Is(err, controller.ErrTopicExists):
		return kerr.TopicAlreadyExists.Code
	case errors.Is(err, controller.ErrUnknownTopic):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, controller.ErrInvalidTopic):
		return kerr.InvalidTopicException.Code
	case errors.Is(err, controller.ErrInvalidPartitions):
		return kerr.InvalidPartitions.Code
	case errors.Is(err, controller.ErrInvalidReplication):
		return kerr.InvalidReplicationFactor.Code
	case errors.Is(err, controller.ErrInvalidReplicaAssign):
		return kerr.InvalidReplicaAssignment.Code
	case errors.Is(err, controller.ErrInvalidConfig), errors.Is(err, configs.ErrInvalid), errors.Is(err, configs.ErrUnknown):
		return kerr.InvalidConfig.Code
	case errors.Is(err, controller.ErrPolicyViolation):
		return kerr.PolicyViolation.Code
	case errors.Is(err, controller.ErrInternalTopicReadOnly):
		return kerr.TopicAuthorizationFailed.Code
	case errors.Is(err, logstore.ErrClosed):
		return kerr.NotLeaderForPartition.Code
	case errors.Is(err, logstore.ErrCorruptLog), isStorageError(err):
		// The disk failed under the log (out of file handles, I/O
		// error): the client retries elsewhere or later.
		return kerr.KafkaStorageError.Code
	}
	return kerr.UnknownServerError.Code
}

// errMessage is the message sent with an error code where the protocol has
// room for one.
func errMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}

// isStorageError reports whether err comes from the file system: a path
// error, or running out of file handles or space.
func isStorageError(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EIO)
}
