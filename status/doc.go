// Package status owns `peercloud status`: the unix control socket the
// daemon serves (one JSON request, one JSON answer per connection; mode
// 0660, group settable, removed on Close), the Report it answers with
// (peers with their addresses, algorithm, last contact, traffic and
// claims; the data plane's counters and drops; the control counters), the
// client that queries it, and the wg-show-like text rendering.
package status
