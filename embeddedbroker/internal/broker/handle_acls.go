package broker

import (
	"context"

	"github.com/kafkaboot/kafkaboot/embeddedbroker/internal/acl"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The ACL requests. ACLs live in the metadata (an acl.Authorizer snapshot
// replaced in one change per request); every node authorizes with its
// copy, loaded as the change is applied.

var securityDisabled = kmsg.StringPtr("No Authorizer is configured on the broker")

// updateACLs applies fn to a copy of the metadata's ACLs and stores the
// result, all under the controller's lock.
func (n *Node) updateACLs(ctx context.Context, fn func(a *acl.Authorizer) bool) error {
	return n.ctrl.UpdateACLs(ctx, func(cur []byte) ([]byte, error) {
		a := acl.New(acl.Options{})
		if cur != nil {
			if err := a.Restore(cur); err != nil {
				return nil, err
			}
		}
		if !fn(a) {
			return nil, nil
		}
		return a.Snapshot(), nil
	})
}

func (n *Node) handleCreateACLs(ctx context.Context, req *kmsg.CreateACLsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	resp.Results = make([]kmsg.CreateACLsResponseResult, len(req.Creations))
	var add []acl.Binding
	var idx []int
	for i, c := range req.Creations {
		r := kmsg.NewCreateACLsResponseResult()
		pattern := c.ResourcePatternType
		if req.Version == 0 {
			pattern = kmsg.ACLResourcePatternTypeLiteral
		}
		b := acl.Binding{ResourceType: c.ResourceType, ResourceName: c.ResourceName, PatternType: pattern,
			Principal: c.Principal, Host: c.Host, Operation: c.Operation, Permission: c.PermissionType}
		switch {
		case !n.authz.on:
			r.ErrorCode, r.ErrorMessage = kerr.SecurityDisabled.Code, securityDisabled
		default:
			if code, msg := b.Validate(); code != 0 {
				r.ErrorCode, r.ErrorMessage = code, kmsg.StringPtr(msg)
			} else {
				add, idx = append(add, b), append(idx, i)
			}
		}
		resp.Results[i] = r
	}
	if len(add) > 0 {
		if err := n.updateACLs(ctx, func(a *acl.Authorizer) bool { return a.Add(add...) > 0 }); err != nil {
			for _, i := range idx {
				resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = errCode(err), errMessage(err)
			}
		}
	}
	return resp
}

// filterOf turns a request's filter fields into an acl.Filter (a v0
// request's ANY pattern type is LITERAL, as in Kafka).
func filterOf(version int16, typ kmsg.ACLResourceType, name *string, pattern kmsg.ACLResourcePatternType, principal, host *string,
	op kmsg.ACLOperation, perm kmsg.ACLPermissionType) acl.Filter {
	if version == 0 {
		pattern = kmsg.ACLResourcePatternTypeLiteral
	}
	return acl.Filter{ResourceType: typ, ResourceName: name, PatternType: pattern, Principal: principal, Host: host, Operation: op, Permission: perm}
}

func (n *Node) handleDescribeACLs(req *kmsg.DescribeACLsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeACLsResponse)
	if !n.authz.on {
		resp.ErrorCode, resp.ErrorMessage = kerr.SecurityDisabled.Code, securityDisabled
		return resp
	}
	f := filterOf(req.Version, req.ResourceType, req.ResourceName, req.ResourcePatternType, req.Principal, req.Host, req.Operation, req.PermissionType)
	if code, msg := f.Validate(); code != 0 {
		resp.ErrorCode, resp.ErrorMessage = code, kmsg.StringPtr(msg)
		return resp
	}
	type resKey struct {
		typ     kmsg.ACLResourceType
		name    string
		pattern kmsg.ACLResourcePatternType
	}
	index := map[resKey]int{}
	for _, b := range n.authz.a.Bindings(f) {
		k := resKey{b.ResourceType, b.ResourceName, b.PatternType}
		i, ok := index[k]
		if !ok {
			r := kmsg.NewDescribeACLsResponseResource()
			r.ResourceType, r.ResourceName, r.ResourcePatternType = k.typ, k.name, k.pattern
			resp.Resources = append(resp.Resources, r)
			i = len(resp.Resources) - 1
			index[k] = i
		}
		a := kmsg.NewDescribeACLsResponseResourceACL()
		a.Principal, a.Host, a.Operation, a.PermissionType = b.Principal, b.Host, b.Operation, b.Permission
		resp.Resources[i].ACLs = append(resp.Resources[i].ACLs, a)
	}
	return resp
}

func (n *Node) handleDeleteACLs(ctx context.Context, req *kmsg.DeleteACLsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	resp.Results = make([]kmsg.DeleteACLsResponseResult, len(req.Filters))
	var filters []acl.Filter
	var idx []int
	for i, rf := range req.Filters {
		r := kmsg.NewDeleteACLsResponseResult()
		f := filterOf(req.Version, rf.ResourceType, rf.ResourceName, rf.ResourcePatternType, rf.Principal, rf.Host, rf.Operation, rf.PermissionType)
		switch code, msg := f.Validate(); {
		case !n.authz.on:
			r.ErrorCode, r.ErrorMessage = kerr.SecurityDisabled.Code, securityDisabled
		case code != 0:
			r.ErrorCode, r.ErrorMessage = code, kmsg.StringPtr(msg)
		default:
			filters, idx = append(filters, f), append(idx, i)
		}
		resp.Results[i] = r
	}
	if len(filters) == 0 {
		return resp
	}
	var removed [][]acl.Binding
	err := n.updateACLs(ctx, func(a *acl.Authorizer) bool {
		removed = a.DeleteAcls(filters...)
		for _, r := range removed {
			if len(r) > 0 {
				return true
			}
		}
		return false
	})
	for k, i := range idx {
		if err != nil {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = errCode(err), errMessage(err)
			continue
		}
		for _, b := range removed[k] {
			m := kmsg.NewDeleteACLsResponseResultMatchingACL()
			m.ResourceType, m.ResourceName, m.ResourcePatternType = b.ResourceType, b.ResourceName, b.PatternType
			m.Principal, m.Host, m.Operation, m.PermissionType = b.Principal, b.Host, b.Operation, b.Permission
			resp.Results[i].MatchingACLs = append(resp.Results[i].MatchingACLs, m)
		}
	}
	return resp
}
