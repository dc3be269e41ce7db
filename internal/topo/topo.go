package topo

// LoadNetwork loads, validates and plans a topology file in one call.
func LoadNetwork(path string) (*Network, error) {
	s, err := Load(path)
	if err != nil {
		return nil, err
	}
	return Plan(s)
}

// ParseNetwork is LoadNetwork for a topology already in memory.
func ParseNetwork(file string, data []byte) (*Network, error) {
	s, err := Parse(file, data)
	if err != nil {
		return nil, err
	}
	return Plan(s)
}
