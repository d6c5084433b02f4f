"""lognet.base: the neutral helpers every room may import (errors, name sanitising, atomic
files). They import nothing else of lognet."""
