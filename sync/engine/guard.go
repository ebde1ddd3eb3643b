package engine

import (
	"errors"
	"fmt"

	"github.com/ldapgate/ldapgate/store"
)

// ErrTooManyDeletes means a plan deletes a larger share of the users than
// the configured limit allows; apply it with RunOptions.Force.
var ErrTooManyDeletes = errors.New("too many user deletions")

// Guard checks p against the deletion limit: if it deletes more than
// maxPercent percent of the directory users in st (and st holds any), it
// returns an error wrapping ErrTooManyDeletes with the numbers.
func Guard(st *store.State, p *store.Plan, maxPercent float64) error {
	total := 0
	for _, u := range st.Users {
		if u.Origin == store.OriginDirectory {
			total++
		}
	}
	deletes := p.Counts().UsersDeleted
	if total == 0 || deletes == 0 {
		return nil
	}
	pct := float64(deletes) * 100 / float64(total)
	if pct <= maxPercent {
		return nil
	}
	return fmt.Errorf("%w: the plan deletes %d of %d directory users (%.1f%%, limit %g%%); use --force if that is intended",
		ErrTooManyDeletes, deletes, total, pct, maxPercent)
}
