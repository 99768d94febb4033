"""Developer scripts: throwaway local services for the tests and the demo."""
