package broker

import (
	"context"
	"errors"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/controller"
	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/sasl"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SCRAM mechanisms as DescribeUserScramCredentials and
// AlterUserScramCredentials number them (Kafka's ScramMechanism).
var scramMechanisms = map[int8]string{1: sasl.ScramSHA256, 2: sasl.ScramSHA512}

// The iterations Kafka accepts for a SCRAM credential.
const (
	minScramIterations = 4096
	maxScramIterations = 16384
)

func scramMechanismType(name string) int8 {
	for k, v := range scramMechanisms {
		if v == name {
			return k
		}
	}
	return 0
}

// handleDescribeUserScramCredentials lists the SCRAM credentials of the
// users asked for (all users with one when none are named): mechanisms and
// iterations, never the keys.
func (n *Node) handleDescribeUserScramCredentials(req *kmsg.DescribeUserSCRAMCredentialsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	img := n.ctrl.Image()
	byUser := map[string][]controller.ScramKey{}
	var users []string
	for _, k := range img.ScramCredentials() {
		if _, seen := byUser[k.User]; !seen {
			users = append(users, k.User)
		}
		byUser[k.User] = append(byUser[k.User], k)
	}
	result := func(user string) kmsg.DescribeUserSCRAMCredentialsResponseResult {
		r := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		r.User = user
		for _, k := range byUser[user] {
			c, _ := img.ScramCredential(k.User, k.Mechanism)
			info := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
			info.Mechanism, info.Iterations = scramMechanismType(k.Mechanism), c.Iterations
			r.CredentialInfos = append(r.CredentialInfos, info)
		}
		return r
	}
	if len(req.Users) == 0 {
		for _, u := range users {
			resp.Results = append(resp.Results, result(u))
		}
		return resp
	}
	count := map[string]int{}
	for _, u := range req.Users {
		count[u.Name]++
	}
	done := map[string]bool{}
	for _, u := range req.Users {
		if done[u.Name] {
			continue
		}
		done[u.Name] = true
		r := result(u.Name)
		switch {
		case count[u.Name] > 1:
			r = kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
			r.User, r.ErrorCode = u.Name, kerr.DuplicateResource.Code
			r.ErrorMessage = kmsg.StringPtr("Cannot describe SCRAM credentials for the same user twice in a single request: " + u.Name)
		case len(r.CredentialInfos) == 0:
			r.ErrorCode = kerr.ResourceNotFound.Code
			r.ErrorMessage = kmsg.StringPtr("Attempt to describe a user credential that does not exist: " + u.Name)
		}
		resp.Results = append(resp.Results, r)
	}
	return resp
}

// handleAlterUserScramCredentials upserts and deletes SCRAM credentials.
// An upsertion carries the salt and the salted password, from which the
// stored and server keys are derived here; the password never reaches the
// broker.
func (n *Node) handleAlterUserScramCredentials(ctx context.Context, req *kmsg.AlterUserSCRAMCredentialsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
	var order []string
	errs := map[string]*kmsg.AlterUserSCRAMCredentialsResponseResult{}
	seen := map[string]int{}
	note := func(user string) {
		if _, ok := seen[user]; !ok {
			order = append(order, user)
		}
		seen[user]++
	}
	for _, d := range req.Deletions {
		note(d.Name)
	}
	for _, u := range req.Upsertions {
		note(u.Name)
	}
	fail := func(user string, code int16, msg string) {
		if errs[user] != nil {
			return
		}
		r := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		r.User, r.ErrorCode, r.ErrorMessage = user, code, kmsg.StringPtr(msg)
		errs[user] = &r
	}
	for user, k := range seen {
		if k > 1 {
			fail(user, kerr.DuplicateResource.Code, "A user credential cannot be altered twice in the same request")
		}
	}
	var changes []controller.ScramChange
	var owners []string
	for _, d := range req.Deletions {
		mech, ok := scramMechanisms[d.Mechanism]
		switch {
		case d.Name == "":
			fail(d.Name, kerr.UnacceptableCredential.Code, "Username must not be empty")
		case !ok:
			fail(d.Name, kerr.UnsupportedSaslMechanism.Code, "Unknown SCRAM mechanism")
		}
		if errs[d.Name] != nil {
			continue
		}
		changes = append(changes, controller.ScramChange{ScramKey: controller.ScramKey{User: d.Name, Mechanism: mech}, Delete: true})
		owners = append(owners, d.Name)
	}
	for _, u := range req.Upsertions {
		mech, ok := scramMechanisms[u.Mechanism]
		switch {
		case u.Name == "":
			fail(u.Name, kerr.UnacceptableCredential.Code, "Username must not be empty")
		case !ok:
			fail(u.Name, kerr.UnsupportedSaslMechanism.Code, "Unknown SCRAM mechanism")
		case u.Iterations < minScramIterations:
			fail(u.Name, kerr.UnacceptableCredential.Code, "Too few iterations")
		case u.Iterations > maxScramIterations:
			fail(u.Name, kerr.UnacceptableCredential.Code, "Too many iterations")
		case len(u.Salt) == 0 || len(u.SaltedPassword) == 0:
			fail(u.Name, kerr.UnacceptableCredential.Code, "Salt and salted password must not be empty")
		}
		if errs[u.Name] != nil {
			continue
		}
		cred, err := sasl.ScramCredentialFromSalted(mech, u.Salt, u.SaltedPassword, u.Iterations)
		if err != nil {
			fail(u.Name, kerr.UnacceptableCredential.Code, err.Error())
			continue
		}
		changes = append(changes, controller.ScramChange{ScramKey: controller.ScramKey{User: u.Name, Mechanism: mech},
			Cred: controller.ScramCredential{Salt: cred.Salt, StoredKey: cred.StoredKey, ServerKey: cred.ServerKey, Iterations: cred.Iterations}})
		owners = append(owners, u.Name)
	}
	if len(changes) > 0 {
		outcomes, err := n.ctrl.AlterScramCredentials(ctx, changes)
		for i, user := range owners {
			switch {
			case err != nil:
				fail(user, errCode(err), err.Error())
			case errors.Is(outcomes[i], controller.ErrNoSuchCredential):
				fail(user, kerr.ResourceNotFound.Code, "Attempt to delete a user credential that does not exist")
			case outcomes[i] != nil:
				fail(user, kerr.UnknownServerError.Code, outcomes[i].Error())
			}
		}
	}
	for _, user := range order {
		if r := errs[user]; r != nil {
			resp.Results = append(resp.Results, *r)
			continue
		}
		r := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		r.User = user
		resp.Results = append(resp.Results, r)
	}
	return resp
}
