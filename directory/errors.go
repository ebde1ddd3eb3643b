package directory

import (
	"errors"
	"fmt"
	"strconv"
)

// ResultCode is an LDAP result code (RFC 4511 §4.1.9). Only the codes the
// directory answers with are named here.
type ResultCode uint16

// Result codes the directory answers with.
const (
	ResultSuccess                  ResultCode = 0
	ResultOperationsError          ResultCode = 1
	ResultProtocolError            ResultCode = 2
	ResultTimeLimitExceeded        ResultCode = 3
	ResultSizeLimitExceeded        ResultCode = 4
	ResultCompareFalse             ResultCode = 5
	ResultCompareTrue              ResultCode = 6
	ResultAuthMethodNotSupported   ResultCode = 7
	ResultAdminLimitExceeded       ResultCode = 11
	ResultUnavailableCritical      ResultCode = 12
	ResultConfidentialityRequired  ResultCode = 13
	ResultNoSuchAttribute          ResultCode = 16
	ResultUndefinedAttributeType   ResultCode = 17
	ResultInappropriateMatching    ResultCode = 18
	ResultNoSuchObject             ResultCode = 32
	ResultInvalidDNSyntax          ResultCode = 34
	ResultInappropriateAuth        ResultCode = 48
	ResultInvalidCredentials       ResultCode = 49
	ResultInsufficientAccessRights ResultCode = 50
	ResultBusy                     ResultCode = 51
	ResultUnavailable              ResultCode = 52
	ResultUnwillingToPerform       ResultCode = 53
	ResultOther                    ResultCode = 80
)

var resultNames = map[ResultCode]string{
	ResultSuccess:                  "success",
	ResultOperationsError:          "operationsError",
	ResultProtocolError:            "protocolError",
	ResultTimeLimitExceeded:        "timeLimitExceeded",
	ResultSizeLimitExceeded:        "sizeLimitExceeded",
	ResultCompareFalse:             "compareFalse",
	ResultCompareTrue:              "compareTrue",
	ResultAuthMethodNotSupported:   "authMethodNotSupported",
	ResultAdminLimitExceeded:       "adminLimitExceeded",
	ResultUnavailableCritical:      "unavailableCriticalExtension",
	ResultConfidentialityRequired:  "confidentialityRequired",
	ResultNoSuchAttribute:          "noSuchAttribute",
	ResultUndefinedAttributeType:   "undefinedAttributeType",
	ResultInappropriateMatching:    "inappropriateMatching",
	ResultNoSuchObject:             "noSuchObject",
	ResultInvalidDNSyntax:          "invalidDNSyntax",
	ResultInappropriateAuth:        "inappropriateAuthentication",
	ResultInvalidCredentials:       "invalidCredentials",
	ResultInsufficientAccessRights: "insufficientAccessRights",
	ResultBusy:                     "busy",
	ResultUnavailable:              "unavailable",
	ResultUnwillingToPerform:       "unwillingToPerform",
	ResultOther:                    "other",
}

// String returns the RFC 4511 name of the code, e.g. "noSuchObject".
func (c ResultCode) String() string {
	if s, ok := resultNames[c]; ok {
		return s
	}
	return "resultCode(" + strconv.Itoa(int(c)) + ")"
}

// Error is an LDAP result other than success. Code, Message and MatchedDN
// are what the client sees; Err is the cause, which goes to the log only
// (a failed bind tells the client "invalid credentials", the log says why).
type Error struct {
	Code      ResultCode
	Message   string // diagnostic message sent to the client
	MatchedDN string
	Err       error // cause; never sent to the client
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

var resultSuccess = &Error{Code: ResultSuccess}

// ResultOf maps err to what a client sees. Errors that are not *Error are
// internal failures: the client sees "other" and nothing of the cause.
// The result may be shared: callers must not modify it.
func ResultOf(err error) *Error {
	if err == nil {
		return resultSuccess
	}
	var le *Error
	if errors.As(err, &le) {
		return le
	}
	return &Error{Code: ResultOther, Message: "internal error", Err: err}
}

// Sentinel errors; match them with errors.Is on what the directory returns.
var (
	// ErrBadFilter means a search filter could not be parsed (protocolError).
	ErrBadFilter = errors.New("bad search filter")
	// ErrFilterTooComplex means a filter is nested deeper or has more parts
	// than the directory evaluates (adminLimitExceeded).
	ErrFilterTooComplex = errors.New("search filter too complex")
	// ErrReadOnly is the cause of every refused write (unwillingToPerform).
	ErrReadOnly = errors.New("read-only directory")
)

// errReadOnly is the answer to add, modify, delete and modrdn.
func errReadOnly(op string) *Error {
	return &Error{Code: ResultUnwillingToPerform, Message: "ldapgate is a read-only directory", Err: fmt.Errorf("%s: %w", op, ErrReadOnly)}
}
