package topo

// LoadNetwork loads, validates and plans a topology file in one call.
func LoadNetwork(path string, opts ...Option) (*Network, error) {
	s, err := Load(path, opts...)
	if err != nil {
		return nil, err
	}
	return Plan(s)
}

// ParseNetwork is LoadNetwork for a topology already in memory.
func ParseNetwork(file string, data []byte, opts ...Option) (*Network, error) {
	s, err := Parse(file, data, opts...)
	if err != nil {
		return nil, err
	}
	return Plan(s)
}
