"""``python -m harness`` (also what ``torchrun -m harness run ...`` starts)."""

from harness.cli import main

if __name__ == "__main__":
    main()
