package pipeline

// RingOccupancy is how full one ring between two stages is.
type RingOccupancy struct {
	Direction string // "out" (device -> network) or "in" (network -> device)
	Ring      string // "free" (empty batches), "work" (to the crypto workers), "order" (to the writer)
	Len, Cap  int
}

// Rings reports the occupancy of every ring, for metrics, summed over the
// lanes (Config.SmallLane). Safe for concurrent use; the lengths are a
// racy snapshot. It does not allocate.
func (p *Pipeline) Rings() [6]RingOccupancy {
	r := p.laneRings()
	if p.small != nil {
		for i, o := range p.small.laneRings() {
			r[i].Len += o.Len
			r[i].Cap += o.Cap
		}
	}
	return r
}

func (p *Pipeline) laneRings() [6]RingOccupancy {
	return [6]RingOccupancy{
		{"out", "free", p.out.free.Len(), p.out.free.Cap()},
		{"out", "work", p.out.work.Len(), p.out.work.Cap()},
		{"out", "order", p.out.order.Len(), p.out.order.Cap()},
		{"in", "free", p.in.free.Len(), p.in.free.Cap()},
		{"in", "work", p.in.work.Len(), p.in.work.Cap()},
		{"in", "order", p.in.order.Len(), p.in.order.Cap()},
	}
}
