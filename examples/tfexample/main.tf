# The tfplug example provider: a file on the local disk.
# `make run` plans this with the locally built provider (no registry needed).
terraform {
  required_providers {
    tfexample = { source = "k3strading/tfexample" }
  }
}

provider "tfexample" {
  label = "example"
}

variable "path" {
  type    = string
  default = "/tmp/k3strading-example.txt"
}

resource "tfexample_file" "hello" {
  path    = var.path
  content = "hello from tfplug\n"
  mode    = "0640"
}

resource "tfexample_echo" "path" {
  input = tfexample_file.hello.id
}

output "size" {
  value = tfexample_file.hello.size
}
