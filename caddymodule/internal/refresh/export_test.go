package refresh

// Kill ends everything the refresher runs at once, redemptions in flight
// included, as the process dying would. A reload (cancelling the app's
// context) must not have that effect; tests use Kill to show the
// difference.
func (r *Refresher) Kill() { r.kill() }
