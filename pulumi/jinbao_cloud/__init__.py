"""jinbao-net on the provincial government cloud (OpenStack), from the jinbao model."""
