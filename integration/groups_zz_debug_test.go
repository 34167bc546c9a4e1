package integration

import (
	"log/slog"
	"os"
	"testing"

	"github.com/kafkaboot/kafkaboot/embeddedbroker"
)

func TestGroupZZDebug(t *testing.T) {
	path := grpKcatPath(t)
	h := slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})
	c := embeddedbroker.StartForTest(t, embeddedbroker.Nodes(3), embeddedbroker.Topics(grpPartitions, "orders"),
		embeddedbroker.BrokerConfig("group.min.session.timeout.ms", "100"), embeddedbroker.Logger(slog.New(h)))
	ctx := grpCtx(t)
	logs := &grpKcatLogs{}
	sc := &grpScenario{Group: "kcat-range", Topic: "orders", Addrs: c.Addrs(), Ledger: newGrpLedger(), QuiesceLeaves: true, CommitOnLeave: true}
	sc.Adm = grpAdmin(t, sc.Addrs)
	sc.Start = grpKcatStarter(sc, path, "range", logs)
	sc.run(t, ctx)
}
