"""Innovation circles (Innovationszirkel): meetings, agendas and minutes."""
