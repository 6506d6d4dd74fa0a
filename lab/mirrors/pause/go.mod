module kubeha.lab/pause

go 1.22
