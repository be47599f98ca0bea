.PHONY: setup demo test test-fast bench train-demo
setup:
	bash scripts/setup_venv.sh
demo:
	bash scripts/demo.sh
test:
	bash scripts/test.sh
test-fast:
	bash scripts/test.sh -m "not slow"
bench: setup
	.venv/bin/video2act bench all
train-demo:
	bash scripts/train_shipped.sh
