// A minimal pod sandbox ("pause") process for the lab's pause image: it holds the pod's namespaces and does
// nothing until SIGTERM or SIGINT. Like Kubernetes' own pause (build/pause/linux/pause.c, C), it reaps children
// when it runs as PID 1 of a shared PID namespace. Built static (CGO_ENABLED=0) by lab/mirrors/content.ts.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		os.Stdout.WriteString("pause (kubeha lab)\n")
		return
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	children := make(chan os.Signal, 1)
	signal.Notify(children, syscall.SIGCHLD)
	for {
		select {
		case <-stop:
			return
		case <-children:
			for {
				var status syscall.WaitStatus
				pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
			}
		}
	}
}
